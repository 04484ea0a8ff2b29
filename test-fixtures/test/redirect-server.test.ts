import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type RedirectServer,
  type RunningRegistry,
  registryMissing,
  startRedirectServer,
  startRegistry,
} from '../src/index.js';

const blob = randomBytes(50_000);
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
const auth = `Basic ${Buffer.from('bob:bob-pw').toString('base64')}`;

describe.skipIf(registryMissing())('redirect server', () => {
  let registry: RunningRegistry;
  let front: RedirectServer;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { bob: 'bob-pw' } });
    front = await startRedirectServer({ target: registry.url, dataDir: registry.dataDir });
    const post = await fetch(`${front.url}/v2/r/x/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: auth },
    });
    const location = new URL(post.headers.get('location') ?? '', front.url);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, {
      method: 'PUT',
      body: blob,
      headers: { authorization: auth, 'content-type': 'application/octet-stream' },
    });
    expect(put.status).toBe(201);
  });
  afterAll(async () => {
    await front?.stop();
    await registry?.stop();
  });

  test('an authorized blob GET is redirected to another origin that serves the blob', async () => {
    const res = await fetch(`${front.url}/v2/r/x/blobs/${digest}`, {
      headers: { authorization: auth },
      redirect: 'manual',
    });
    expect(res.status).toBe(307);
    const location = new URL(res.headers.get('location') ?? '');
    expect(location.origin).toBe(front.storageUrl);
    expect(location.hostname).toBe('localhost');
    const stored = await fetch(location, { headers: { range: 'bytes=10-' } });
    expect(stored.status).toBe(206);
    expect(Buffer.from(await stored.arrayBuffer()).equals(blob.subarray(10))).toBe(true);
    expect(front.storageRequests.at(-1)).toMatchObject({ authorization: undefined, range: 'bytes=10-' });
  });

  test('the storage server records an Authorization header when one is (wrongly) sent', async () => {
    await fetch(`${front.storageUrl}/blobs/sha256/${digest.slice(7)}`, { headers: { authorization: auth } });
    expect(front.storageRequests.at(-1)?.authorization).toBe(auth);
  });

  test('without credentials the registry challenge passes through, no redirect', async () => {
    const before = front.redirects;
    const res = await fetch(`${front.url}/v2/r/x/blobs/${digest}`, { redirect: 'manual' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(front.redirects).toBe(before);
  });
});
