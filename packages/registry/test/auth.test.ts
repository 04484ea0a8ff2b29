import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { MediaType } from '@pd/oci-types';
import {
  missingTools,
  type RunningRegistry,
  registryMissing,
  startRegistry,
  startTokenIssuer,
  type TokenIssuer,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AuthError, RegistryClient } from '../src/index.js';
import { randomData, recordingLogger, sourceOf, tempDir } from './helpers.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Push a one-layer OCI image with pd's own client (config + layer + manifest). */
async function pushImage(client: RegistryClient, registry: string, repository: string, tag: string) {
  const repo = { registry, repository };
  const layer = randomData(50_000);
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  );
  await client.uploadBlob(repo, sourceOf(layer), { digest: sha256(layer), size: layer.length });
  await client.uploadBlob(repo, sourceOf(config), { digest: sha256(config), size: config.length });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: sha256(layer), size: layer.length }],
    }),
  );
  const digest = await client.putManifest({ ...repo, tag }, manifest, MediaType.OciManifest);
  return { digest, layer: sha256(layer), layerSize: layer.length };
}

/** Everything a user might ever see of an error: message, hint, inspect() with causes, JSON. */
function surface(e: unknown): string {
  const err = e as { message?: string; hint?: string };
  return [err.message, err.hint, inspect(e, { depth: 10 }), JSON.stringify(e)].join('\n');
}

describe.skipIf(registryMissing())('htpasswd (Basic) registry', () => {
  let registry: RunningRegistry;
  const password = 'Basic-S3cret-pw-4711';

  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { alice: password } });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('anonymous: AuthError telling to log in', async () => {
    const client = new RegistryClient({ dockerConfig: false });
    const err = await client.listTags(`${registry.host}/pd/x`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).status).toBe(401);
    expect((err as AuthError).codes).toEqual(['UNAUTHORIZED']);
    expect((err as AuthError).message).toContain('authentication required');
    expect((err as AuthError).hint).toContain(`pd login ${registry.host}`);
    await client.close();
  });

  test('with the right password: push and pull', async () => {
    const client = new RegistryClient({
      dockerConfig: false,
      credentials: { [registry.host]: { username: 'alice', password } },
    });
    const { digest } = await pushImage(client, registry.host, 'pd/basic', 'v1');
    expect((await client.getManifest(`${registry.host}/pd/basic:v1`)).digest).toBe(digest);
    expect(await client.listTags(`${registry.host}/pd/basic`)).toEqual(['v1']);
    await client.close();
  });

  test('a wrong password is an AuthError naming the user, never the secret, in errors or logs', async () => {
    const wrong = 'Wrong-Basic-pw-0815';
    const { logger, lines } = recordingLogger();
    const client = new RegistryClient({
      dockerConfig: false,
      credentials: { [registry.host]: { username: 'alice', password: wrong } },
      logger,
    });
    const err = await client.getManifest(`${registry.host}/pd/basic:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).message).toContain('rejected the credentials of "alice"');
    const seen = `${surface(err)}\n${lines.join('\n')}`;
    expect(lines.length).toBeGreaterThan(0);
    for (const secret of [wrong, password, Buffer.from(`alice:${wrong}`).toString('base64')]) {
      expect(seen).not.toContain(secret);
    }
    await client.close();
  });
});

describe.skipIf(registryMissing() ?? missingTools('openssl'))('token (Bearer) registry', () => {
  let issuer: TokenIssuer;
  let registry: RunningRegistry;
  const pw = { alice: 'Alice-Token-pw-1', reader: 'Reader-pw-2', limited: 'Limited-pw-3' };
  const alice = () =>
    new RegistryClient({
      dockerConfig: false,
      credentials: { [registry.host]: { username: 'alice', password: pw.alice } },
    });
  let pushed: Awaited<ReturnType<typeof pushImage>>;

  beforeAll(async () => {
    issuer = await startTokenIssuer({
      users: {
        alice: { password: pw.alice, access: { '*': ['pull', 'push', 'delete'], 'registry:catalog': ['*'] } },
        reader: { password: pw.reader, access: { '*': ['pull'] } },
        limited: { password: pw.limited, access: { 'pd/dst*': ['pull', 'push'] } },
      },
      anonymous: { 'public/*': ['pull'] },
    });
    registry = await startRegistry({ token: issuer.config });
    const c = alice();
    pushed = await pushImage(c, registry.host, 'pd/src', 'v1');
    await pushImage(c, registry.host, 'public/img', 'v1');
    await c.close();
  });
  afterAll(async () => {
    await registry?.stop();
    await issuer?.stop();
  });

  test('anonymous pull of a public repository uses an anonymous token; private ones need login', async () => {
    const client = new RegistryClient({ dockerConfig: false });
    const before = issuer.requests.length;
    expect((await client.getManifest(`${registry.host}/public/img:v1`)).mediaType).toBe(
      MediaType.OciManifest,
    );
    expect(issuer.requests.slice(before)).toMatchObject([
      { method: 'GET', grant: 'anonymous', scopes: ['repository:public/img:pull'], service: issuer.service },
    ]);
    const err = await client.getManifest(`${registry.host}/pd/src:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).hint).toContain(`pd login ${registry.host}`);
    await client.close();
  });

  test('the first GET, sent beside /v2/ without a token, is refused and sent again with one', async () => {
    const { logger, lines } = recordingLogger();
    const client = new RegistryClient({ dockerConfig: false, logger });
    const before = issuer.requests.length;
    const got = await client.getManifest(`${registry.host}/public/img:v1`);
    expect(got.mediaType).toBe(MediaType.OciManifest);
    expect(issuer.requests.length - before).toBe(1);
    const manifestLines = lines.filter((l) => l.includes('/v2/public/img/manifests/v1'));
    expect(manifestLines.filter((l) => l.includes('-> 401'))).toHaveLength(1);
    expect(manifestLines.filter((l) => l.includes('not kept'))).toHaveLength(1);
    expect(manifestLines.filter((l) => l.includes('-> 200'))).toHaveLength(1);
    await client.close();
  });

  test('tokens are cached per scope: a pull after a push reuses the pull,push token', async () => {
    const client = alice();
    const before = issuer.requests.length;
    await client.uploadBlob(`${registry.host}/pd/cache`, sourceOf(Buffer.from('cache me')), {});
    await client.headBlob(`${registry.host}/pd/cache`, sha256(Buffer.from('cache me')));
    await client.getManifest(`${registry.host}/pd/src:v1`);
    const scopes = issuer.requests.slice(before).map((r) => r.scopes.join(' '));
    expect(scopes).toEqual(['repository:pd/cache:pull,push', 'repository:pd/src:pull']);
    await client.close();
  });

  test('a mount asks for one token holding the target push and the source pull', async () => {
    const client = alice();
    const before = issuer.requests.length;
    expect(await client.mountBlob(`${registry.host}/pd/dst`, pushed.layer, `${registry.host}/pd/src`)).toBe(
      true,
    );
    expect(issuer.requests.slice(before).map((r) => r.scopes)).toEqual([
      ['repository:pd/dst:pull,push', 'repository:pd/src:pull'],
    ]);
    expect(await client.headBlob(`${registry.host}/pd/dst`, pushed.layer)).toEqual({
      digest: pushed.layer,
      size: pushed.layerSize,
    });
    await client.close();
  });

  test('without pull on the source, the mount is declined and the blob is uploaded', async () => {
    const client = new RegistryClient({
      dockerConfig: false,
      credentials: { [registry.host]: { username: 'limited', password: pw.limited } },
    });
    const before = issuer.requests.length;
    const data = randomData(30_000);
    // The limited user cannot read pd/src, so even if it held the bytes the mount must not happen.
    const r = await client.uploadBlob(`${registry.host}/pd/dst-limited`, sourceOf(data), {
      digest: sha256(data),
      size: data.length,
      mountFrom: `${registry.host}/pd/src`,
    });
    expect(r.how).toBe('uploaded');
    const mountRequest = issuer.requests
      .slice(before)
      .find((q) => q.scopes.includes('repository:pd/src:pull'));
    expect(mountRequest?.granted).toEqual(['repository:pd/dst-limited:pull,push']);
    expect(await client.headBlob(`${registry.host}/pd/dst-limited`, sha256(data))).toBeDefined();
    await client.close();
  });

  test('a read-only user pulls, and is denied a push with an AuthError naming the action', async () => {
    const client = new RegistryClient({
      dockerConfig: false,
      credentials: { [registry.host]: { username: 'reader', password: pw.reader } },
    });
    expect((await client.getManifest(`${registry.host}/pd/src:v1`)).digest).toBe(pushed.digest);
    const err = await client
      .putManifest(`${registry.host}/pd/src:v2`, Buffer.from('{}'), MediaType.OciManifest)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).message).toContain('access denied (push)');
    expect((err as AuthError).hint).toContain('"reader" lacks push permission on pd/src');
    await client.close();
  });

  test('a wrong password fails at the token server: no secret in errors or logs', async () => {
    const wrong = 'Wrong-Token-pw-9';
    const { logger, lines } = recordingLogger();
    const client = new RegistryClient({
      dockerConfig: false,
      credentials: { [registry.host]: { username: 'alice', password: wrong } },
      logger,
    });
    const err = await client.getManifest(`${registry.host}/pd/src:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).message).toBe(
      `authentication failed: ${registry.host} rejected the credentials of "alice"`,
    );
    const seen = `${surface(err)}\n${lines.join('\n')}`;
    for (const secret of [wrong, Buffer.from(`alice:${wrong}`).toString('base64')])
      expect(seen).not.toContain(secret);
    await client.close();
  });

  test('bearer tokens never appear in logs', async () => {
    const { logger, lines } = recordingLogger();
    const client = new RegistryClient({
      dockerConfig: false,
      credentials: { [registry.host]: { username: 'alice', password: pw.alice } },
      logger,
    });
    const before = issuer.requests.length;
    await client.getManifest(`${registry.host}/pd/src:v1`);
    expect(issuer.requests.length).toBeGreaterThan(before);
    const text = lines.join('\n');
    expect(text).toContain('/v2/pd/src/manifests/v1');
    expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+\./); // no JWT
    expect(text).not.toContain(pw.alice);
    await client.close();
  });

  test('expired tokens are fetched again', async () => {
    const client = alice();
    issuer.setExpiresIn(2);
    try {
      const before = issuer.requests.length;
      await client.getManifest(`${registry.host}/pd/src:v1`);
      await client.getManifest(`${registry.host}/pd/src:v1`);
      // Tokens within seconds of expiry are not used: each call needed a new one.
      expect(issuer.requests.length - before).toBe(2);
    } finally {
      issuer.setExpiresIn(300);
    }
    const before = issuer.requests.length;
    await client.getManifest(`${registry.host}/pd/src:v1`);
    await client.getManifest(`${registry.host}/pd/src:v1`);
    expect(issuer.requests.length - before).toBe(1);
    await client.close();
  });

  test('login stores a refresh token (identity token), later used with grant_type=refresh_token', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const client = new RegistryClient({ dockerConfig: dir });
      const result = await client.login(registry.host, 'alice', pw.alice);
      expect(result).toEqual({
        registry: registry.host,
        storedIn: join(dir, 'config.json'),
        identityToken: true,
      });
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      const entry = config.auths[registry.host];
      expect(Buffer.from(entry.auth, 'base64').toString()).toBe('alice:');
      expect(typeof entry.identitytoken).toBe('string');
      expect(JSON.stringify(config)).not.toContain(pw.alice);
      expect(issuer.requests.at(-1)).toMatchObject({ grant: 'basic', offline: true, clientId: 'pd' });

      const later = new RegistryClient({ dockerConfig: dir });
      const before = issuer.requests.length;
      expect((await later.getManifest(`${registry.host}/pd/src:v1`)).digest).toBe(pushed.digest);
      expect(issuer.requests.slice(before)).toMatchObject([
        {
          method: 'POST',
          grant: 'refresh_token',
          user: 'alice',
          scopes: ['repository:pd/src:pull'],
          clientId: 'pd',
        },
      ]);

      // A revoked refresh token is an AuthError pointing at pd login.
      issuer.revokeRefreshTokens();
      const again = new RegistryClient({ dockerConfig: dir });
      const err = await again.getManifest(`${registry.host}/pd/src:v1`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect((err as AuthError).hint).toContain(`pd login ${registry.host}`);
      expect(surface(err)).not.toContain(entry.identitytoken);
      await Promise.all([client.close(), later.close(), again.close()]);
    } finally {
      cleanup();
    }
  });

  test('login with a wrong password fails and writes nothing', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const client = new RegistryClient({ dockerConfig: dir });
      const err = await client.login(registry.host, 'alice', 'nope-nope').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect(() => readFileSync(join(dir, 'config.json'))).toThrow();
      await client.close();
    } finally {
      cleanup();
    }
  });

  test('catalog needs the registry:catalog:* scope, which the client asks for', async () => {
    const client = alice();
    const repos = await client.catalog(registry.host);
    expect(repos).toEqual(expect.arrayContaining(['pd/src', 'public/img']));
    expect(issuer.requests.at(-1)?.scopes).toEqual(['registry:catalog:*']);
    await client.close();
  });
});

describe.skipIf(registryMissing() ?? missingTools('openssl'))('token servers answering differently', () => {
  for (const variant of ['token', 'access_token'] as const) {
    test(`only "${variant}", no expires_in`, async () => {
      const issuer = await startTokenIssuer({
        users: { u: { password: 'p-variant', access: { '*': ['pull', 'push'] } } },
        responseFields: variant,
        omitExpiresIn: true,
        keyMode: variant === 'token' ? 'kid' : 'x5c',
      });
      const registry = await startRegistry({ token: issuer.config });
      try {
        const client = new RegistryClient({
          dockerConfig: false,
          credentials: { [registry.host]: { username: 'u', password: 'p-variant' } },
        });
        const data = Buffer.from(`variant ${variant}`);
        const r = await client.uploadBlob(`${registry.host}/v/x`, sourceOf(data), {});
        expect(r.digest).toBe(sha256(data));
        // 60 s default lifetime: the second call reuses the token.
        const before = issuer.requests.length;
        await client.headBlob(`${registry.host}/v/x`, r.digest);
        expect(issuer.requests.length).toBe(before);
        await client.close();
      } finally {
        await registry.stop();
        await issuer.stop();
      }
    });
  }
});
