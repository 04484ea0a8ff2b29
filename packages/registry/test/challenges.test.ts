/**
 * WWW-Authenticate shapes real servers send, in front of the real registry (token and htpasswd
 * variants): the fault proxy rewrites the registry's challenge into several header lines (as
 * registries behind Kerberos-aware proxies answer: `Negotiate` on one line, `Bearer ...` on the
 * next), into one comma-joined line, or into schemes pd cannot answer at all.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type FaultProxy,
  missingTools,
  type RunningRegistry,
  registryMissing,
  startFaultProxy,
  startRegistry,
  startTokenIssuer,
  type TokenIssuer,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { AuthError, RegistryClient, UnsupportedAuthSchemeError } from '../src/index.js';
import { readAll, sourceOf, tempDir } from './helpers.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Upload a blob through `client` and read it back: the whole auth dance for push and pull scopes. */
async function roundTrip(client: RegistryClient, repo: string, text: string): Promise<void> {
  const data = Buffer.from(text);
  await client.uploadBlob(repo, sourceOf(data), { digest: sha256(data), size: data.length });
  expect((await readAll(await client.getBlob(repo, sha256(data)))).toString()).toBe(text);
}

/** Requests the proxy answered 401 with a rewritten challenge, and all requests since `from`. */
function challenged(proxy: FaultProxy, from: number) {
  return proxy.log.slice(from).filter((r) => r.status === 401 && r.fault === 'www-authenticate').length;
}

describe.skipIf(registryMissing() ?? missingTools('openssl'))(
  'WWW-Authenticate from a token registry',
  () => {
    let issuer: TokenIssuer;
    let registry: RunningRegistry;
    let proxy: FaultProxy;
    const password = 'Lines-pw-2718';
    const alice = () =>
      new RegistryClient({
        dockerConfig: false,
        credentials: { [proxy.host]: { username: 'alice', password } },
      });

    beforeAll(async () => {
      issuer = await startTokenIssuer({
        users: { alice: { password, access: { '*': ['pull', 'push'] } } },
        anonymous: { 'public/*': ['pull'] },
      });
      registry = await startRegistry({ token: issuer.config });
      proxy = await startFaultProxy(registry.url);
      const seed = new RegistryClient({
        dockerConfig: false,
        credentials: { [registry.host]: { username: 'alice', password } },
      });
      await roundTrip(seed, `${registry.host}/public/seed`, 'public blob');
      await seed.close();
    });
    afterAll(async () => {
      await proxy?.stop();
      await registry?.stop();
      await issuer?.stop();
    });
    beforeEach(() => proxy.clearFaults());

    test.each([
      ['Negotiate, then Bearer, on separate header lines', ['Negotiate', '{upstream}']],
      ['Bearer, then Negotiate, on separate header lines', ['{upstream}', 'Negotiate']],
      ['Negotiate with a token68, then Bearer, on separate lines', ['Negotiate YIIabc==', '{upstream}']],
      ['Negotiate and Bearer joined in one line', ['Negotiate, {upstream}']],
    ])('%s: push and pull with credentials', async (_name, lines) => {
      proxy.inject({ fault: { kind: 'www-authenticate', lines } });
      const from = proxy.log.length;
      const client = alice();
      await roundTrip(client, `${proxy.host}/pd/lines`, `pushed through ${lines.join(' | ')}`);
      await client.close();
      expect(challenged(proxy, from)).toBeGreaterThan(0);
    });

    test('separate lines: an anonymous pull gets its anonymous token', async () => {
      proxy.inject({ fault: { kind: 'www-authenticate', lines: ['Negotiate', '{upstream}'] } });
      const from = proxy.log.length;
      const before = issuer.requests.length;
      const client = new RegistryClient({ dockerConfig: false });
      const blob = await client.getBlob(`${proxy.host}/public/seed`, sha256(Buffer.from('public blob')));
      expect((await readAll(blob)).toString()).toBe('public blob');
      await client.close();
      expect(challenged(proxy, from)).toBeGreaterThan(0);
      expect(issuer.requests.slice(before)).toMatchObject([{ grant: 'anonymous' }]);
    });

    test('separate lines: login finds the Bearer challenge and stores a refresh token', async () => {
      proxy.inject({ fault: { kind: 'www-authenticate', lines: ['Negotiate', '{upstream}'] } });
      const { dir, cleanup } = tempDir();
      try {
        const client = new RegistryClient({ dockerConfig: dir });
        expect(await client.login(proxy.host, 'alice', password)).toMatchObject({ identityToken: true });
        await client.close();
      } finally {
        cleanup();
      }
    });

    test('only schemes pd cannot answer: an UnsupportedAuthSchemeError naming them, not "log in"', async () => {
      proxy.inject({ fault: { kind: 'www-authenticate', lines: ['Negotiate', 'NTLM', 'Negotiate'] } });
      const client = alice();
      const err = await client
        .getBlob(`${proxy.host}/pd/lines`, sha256(Buffer.from('x')))
        .catch((e: unknown) => e);
      await client.close();
      expect(err).toBeInstanceOf(UnsupportedAuthSchemeError);
      expect(err).toBeInstanceOf(AuthError);
      const e = err as UnsupportedAuthSchemeError;
      expect(e.schemes).toEqual(['negotiate', 'ntlm']);
      expect(e.code).toBe('AUTH_SCHEME_UNSUPPORTED');
      expect(e.status).toBe(401);
      expect(e.registry).toBe(proxy.host);
      expect(e.message).toContain(
        `${proxy.host} asks for authentication with negotiate, ntlm, which pd does not support`,
      );
      expect(e.message).not.toContain('authentication required');
      expect(e.hint).toContain('Bearer tokens and Basic');
    });

    test('ping tells a registry that offers only unsupported schemes from one that needs no auth', async () => {
      proxy.inject({ fault: { kind: 'www-authenticate', lines: ['Negotiate'] } });
      const client = new RegistryClient({ dockerConfig: false });
      expect((await client.ping(proxy.host)).auth).toBe('other');
      await client.close();
      proxy.clearFaults();
      proxy.inject({ fault: { kind: 'www-authenticate', lines: ['Negotiate', '{upstream}'] } });
      const again = new RegistryClient({ dockerConfig: false });
      expect((await again.ping(proxy.host)).auth).toBe('bearer');
      await again.close();
    });

    test('only unsupported schemes in one joined line, anonymous: the same error', async () => {
      proxy.inject({
        fault: { kind: 'www-authenticate', lines: ['Digest realm="r", nonce="n", Negotiate'] },
      });
      const client = new RegistryClient({ dockerConfig: false });
      const err = await client.listTags(`${proxy.host}/pd/lines`).catch((e: unknown) => e);
      await client.close();
      expect(err).toBeInstanceOf(UnsupportedAuthSchemeError);
      expect((err as UnsupportedAuthSchemeError).schemes).toEqual(['digest', 'negotiate']);
    });

    test('login against only unsupported schemes fails with that error and stores nothing', async () => {
      proxy.inject({ fault: { kind: 'www-authenticate', lines: ['Negotiate'] } });
      const { dir, cleanup } = tempDir();
      try {
        const client = new RegistryClient({ dockerConfig: dir });
        const err = await client.login(proxy.host, 'alice', password).catch((e: unknown) => e);
        await client.close();
        expect(err).toBeInstanceOf(UnsupportedAuthSchemeError);
        expect((err as Error).message).toContain(`login to ${proxy.host}`);
        expect(() => readFileSync(join(dir, 'config.json'))).toThrow();
      } finally {
        cleanup();
      }
    });
  },
);

describe.skipIf(registryMissing())('WWW-Authenticate from an htpasswd (Basic) registry', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  const password = 'Basic-lines-pw-1414';

  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { bob: password } });
    proxy = await startFaultProxy(registry.url);
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  test('NTLM, then Basic, on separate lines: push and pull with the password', async () => {
    proxy.inject({ fault: { kind: 'www-authenticate', lines: ['NTLM', '{upstream}'] } });
    const from = proxy.log.length;
    const client = new RegistryClient({
      dockerConfig: false,
      credentials: { [proxy.host]: { username: 'bob', password } },
    });
    await roundTrip(client, `${proxy.host}/pd/basic-lines`, 'basic through lines');
    await client.close();
    expect(challenged(proxy, from)).toBeGreaterThan(0);
  });
});
