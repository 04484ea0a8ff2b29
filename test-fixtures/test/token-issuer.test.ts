import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  missingTools,
  type RunningRegistry,
  registryMissing,
  startRegistry,
  startTokenIssuer,
  type TokenIssuer,
} from '../src/index.js';

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function token(issuer: TokenIssuer, scope: string, auth?: string): Promise<Record<string, unknown>> {
  const url = `${issuer.realm}?service=${issuer.service}&scope=${encodeURIComponent(scope)}`;
  const res = await fetch(url, auth ? { headers: { authorization: auth } } : {});
  return { status: res.status, ...((await res.json()) as Record<string, unknown>) };
}

function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'));
}

async function pushBlob(registry: RunningRegistry, repo: string, bearer: string): Promise<number> {
  const data = Buffer.from('token-issuer test blob');
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const post = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}` },
  });
  if (post.status !== 202) return post.status;
  const location = new URL(post.headers.get('location') ?? '', registry.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    body: data,
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/octet-stream' },
  });
  return put.status;
}

describe.skipIf(registryMissing() ?? missingTools('openssl'))('token issuer + registry token auth', () => {
  let issuer: TokenIssuer;
  let kidIssuer: TokenIssuer;
  let registry: RunningRegistry;
  let kidRegistry: RunningRegistry;
  beforeAll(async () => {
    const users = {
      alice: { password: 'alice-pw', access: { '*': ['pull', 'push'], 'registry:catalog': ['*'] } },
      reader: { password: 'reader-pw', access: { '*': ['pull'] } },
    };
    [issuer, kidIssuer] = await Promise.all([
      startTokenIssuer({ users, anonymous: { 'public/*': ['pull'] } }),
      startTokenIssuer({ users, keyMode: 'kid', responseFields: 'access_token' }),
    ]);
    [registry, kidRegistry] = await Promise.all([
      startRegistry({ token: issuer.config }),
      startRegistry({ token: kidIssuer.config }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([registry?.stop(), kidRegistry?.stop()]);
    await Promise.all([issuer?.stop(), kidIssuer?.stop()]);
  });

  test('the registry challenges with the issuer realm and service', async () => {
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="${issuer.realm}",service="${issuer.service}"`,
    );
  });

  test('a token for alice carries Docker Hub claims and is accepted for push', async () => {
    const t = await token(issuer, 'repository:team/app:pull,push', basic('alice', 'alice-pw'));
    expect(t.status).toBe(200);
    expect(t.token).toBe(t.access_token);
    expect(t.expires_in).toBe(300);
    const c = claims(String(t.token));
    expect(c).toMatchObject({
      iss: issuer.issuer,
      sub: 'alice',
      aud: issuer.service,
      access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
    });
    expect(typeof c.jti).toBe('string');
    expect(await pushBlob(registry, 'team/app', String(t.token))).toBe(201);
  });

  test('a read-only user gets pull only, and the registry refuses the push', async () => {
    const t = await token(issuer, 'repository:team/app:pull,push', basic('reader', 'reader-pw'));
    expect(claims(String(t.token)).access).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull'] },
    ]);
    expect(await pushBlob(registry, 'team/app', String(t.token))).toBe(401);
    expect(issuer.requests.at(-1)?.granted).toEqual(['repository:team/app:pull']);
  });

  test('a wrong password is refused; anonymous gets only what the anonymous rules allow', async () => {
    expect((await token(issuer, 'repository:team/app:pull', basic('alice', 'nope'))).status).toBe(401);
    const anon = await token(issuer, 'repository:public/x:pull repository:team/app:pull');
    expect(claims(String(anon.token)).access).toEqual([
      { type: 'repository', name: 'public/x', actions: ['pull'] },
    ]);
  });

  test('refresh tokens: offline GET hands one out, POST grant_type=refresh_token redeems it', async () => {
    const res = await fetch(`${issuer.realm}?service=${issuer.service}&offline_token=true&client_id=test`, {
      headers: { authorization: basic('alice', 'alice-pw') },
    });
    const body = (await res.json()) as { refresh_token?: string };
    expect(typeof body.refresh_token).toBe('string');
    const post = await fetch(issuer.realm, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: body.refresh_token ?? '',
        service: issuer.service,
        scope: 'registry:catalog:*',
        client_id: 'test',
      }),
    });
    const t = (await post.json()) as { access_token: string };
    expect(post.status).toBe(200);
    const catalog = await fetch(`${registry.url}/v2/_catalog`, {
      headers: { authorization: `Bearer ${t.access_token}` },
    });
    expect(catalog.status).toBe(200);
    issuer.revokeRefreshTokens();
    const again = await fetch(issuer.realm, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: body.refresh_token ?? '',
        service: issuer.service,
      }),
    });
    expect(again.status).toBe(401);
  });

  test('kid mode: tokens naming the libtrust key ID are accepted, access_token only', async () => {
    const t = await token(kidIssuer, 'repository:k/app:pull,push', basic('alice', 'alice-pw'));
    expect(t.token).toBeUndefined();
    const jwt = String(t.access_token);
    const header = JSON.parse(Buffer.from(jwt.split('.')[0] ?? '', 'base64url').toString('utf8'));
    expect(header.kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    expect(await pushBlob(kidRegistry, 'k/app', jwt)).toBe(201);
  });
});
