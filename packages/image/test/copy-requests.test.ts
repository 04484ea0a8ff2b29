import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient } from '@pd/registry';
import {
  type FaultProxy,
  type RunningRegistry,
  readPushedImage,
  skopeo,
  startFaultProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { BlobCache } from '../src/cache.js';
import { BlobLocations } from '../src/locations.js';
import type { ProgressEvent } from '../src/model.js';
import * as remote from '../src/remote.js';
import { push } from '../src/sinks/push.js';
import { type Env, fixturesMissing, startEnv } from './helpers.js';

// What `pd copy` does within one registry (remote.get + push), counted request by request at the
// proxy: a mount answers 201 both when the source holds the blob and when the target already
// does, so a HEAD before it is a wasted round trip, and the config is mounted like a layer
// rather than fetched (issue 15: 16 requests per copy of a 5-layer image before, 9 after).

/** `METHOD path status` with the repository part of the path left out, queries dropped. */
const line = (r: { method: string; path: string; status: number }) =>
  `${r.method} ${r.path.replace(/^\/v2\/.+?\/(blobs|manifests)\//, '…/$1/')} ${r.status}`;

describe.skipIf(fixturesMissing())('copy within one registry: requests', () => {
  let env: Env;
  let client: RegistryClient;
  let cacheDir: string;
  beforeAll(async () => {
    env = await startEnv();
  });
  afterAll(async () => {
    await env?.stop();
  });
  // Every copy as a fresh CLI process makes it: a new client (so its ping counts), an empty cache
  // (a cached config would hide a GET of it).
  const fresh = () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'pd-copy-requests-'));
    client = new RegistryClient();
    return { client, cache: new BlobCache(cacheDir) };
  };
  afterEach(async () => {
    await client?.close();
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
  });

  test('an image: ping, manifest, one mount per blob (config included), manifest PUT; no HEAD, no blob GET', async () => {
    const fx = env.fixtures.layered;
    const { client, cache } = fresh();
    const events: ProgressEvent[] = [];
    env.proxy.resetStats();
    const img = await remote.get(env.viaProxy(fx.ref), { client, cache });
    const pushed = await push(img, `${env.proxy.host}/copied/layered:v1`, {
      client,
      onProgress: (e) => events.push(e),
    });
    expect(pushed.digest).toBe(fx.digest);

    const blobs = [...new Set([...fx.layers.map((l) => l.digest), fx.configDigest])];
    const log = env.proxy.log.map(line);
    expect(env.proxy.requests({ method: 'HEAD' })).toEqual([]);
    expect(env.proxy.requests({ method: 'GET', path: '/blobs/' })).toEqual([]);
    // The manifest GET goes out beside the ping (a round trip less), so either may end first.
    expect(log.slice(0, 2).sort()).toEqual(['GET /v2/ 200', `GET …/manifests/${fx.tag} 200`].sort());
    expect(log.slice(2)).toEqual([...blobs.map(() => 'POST …/blobs/uploads/ 201'), 'PUT …/manifests/v1 201']);
    // Each blob mounted once, from the source repository.
    const mounts = env.proxy.requests({ method: 'POST' }).map((r) => new URL(r.url, 'http://x').searchParams);
    expect(mounts.map((q) => q.get('mount')).sort()).toEqual([...blobs].sort());
    expect(new Set(mounts.map((q) => q.get('from')))).toEqual(new Set([fx.repository]));
    // Progress says what happened to each: mounted, config too.
    for (const d of blobs) expect(events.filter((e) => e.id === d).at(-1)?.phase).toBe('mount');

    // Read back by the registry and by skopeo: the source's manifest, byte for byte.
    const back = await readPushedImage(env.registry, 'copied/layered', 'v1', fx.digest);
    expect(back.layers).toEqual(fx.layers);
    const raw = await skopeo([
      'inspect',
      '--tls-verify=false',
      '--raw',
      `docker://${env.registry.host}/copied/layered:v1`,
    ]);
    expect(raw.stdout).toBe(Buffer.from(await img.rawManifest()).toString());
  });

  test('again into the same repository: the mounts still answer 201, still no HEAD', async () => {
    const fx = env.fixtures.small;
    const target = `${env.proxy.host}/copied/small-twice:v1`;
    const first = fresh();
    await push(await remote.get(env.viaProxy(fx.ref), first), target, { client: first.client });
    await first.client.close();

    const { client, cache } = fresh();
    env.proxy.resetStats();
    await push(await remote.get(env.viaProxy(fx.ref), { client, cache }), target, { client });
    expect(env.proxy.requests({ method: 'HEAD' })).toEqual([]);
    expect(env.proxy.requests({ method: 'POST' }).map((r) => r.status)).toEqual(
      [...new Set([...fx.layers.map((l) => l.digest), fx.configDigest])].map(() => 201),
    );
    expect(env.proxy.requests({ method: 'PATCH' })).toEqual([]);
    expect(env.proxy.requests({ method: 'PUT' }).map(line)).toEqual(['PUT …/manifests/v1 201']);
  });

  test('a manifest list, every platform: children by digest, their blobs mounted; no blob HEAD or GET', async () => {
    const fx = env.fixtures.multiArch;
    const { client, cache } = fresh();
    env.proxy.resetStats();
    const list = await remote.get(env.viaProxy(fx.list.ref), { client, cache });
    const pushed = await push(list, `${env.proxy.host}/copied/multi:v1`, { client });
    expect(pushed.digest).toBe(fx.list.digest);
    expect(env.proxy.requests({ method: 'HEAD', path: '/blobs/' })).toEqual([]);
    expect(env.proxy.requests({ method: 'GET', path: '/blobs/' })).toEqual([]);
    expect(env.proxy.requests({ method: 'POST' }).every((r) => r.status === 201)).toBe(true);
    // skopeo reads every platform of the copy.
    const raw = await skopeo([
      'inspect',
      '--tls-verify=false',
      '--raw',
      `docker://${env.registry.host}/copied/multi:v1`,
    ]);
    expect(raw.stdout).toBe(Buffer.from(await list.rawManifest()).toString());
  });
});

describe.skipIf(fixturesMissing())(
  'copy into a second repository of another registry: mounts from the first',
  () => {
    let env: Env;
    let dest: RunningRegistry;
    let destProxy: FaultProxy;
    let dir: string;
    beforeAll(async () => {
      env = await startEnv();
      dest = await startRegistry();
      destProxy = await startFaultProxy(dest.url);
      dir = mkdtempSync(join(tmpdir(), 'pd-locations-'));
    });
    afterAll(async () => {
      await destProxy?.stop();
      await dest?.stop();
      await env?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('the first copy uploads and notes where; the second mounts every blob from there, no byte moved', async () => {
      const fx = env.fixtures.layered;
      const locations = new BlobLocations(join(dir, 'first'));
      const blobs = [...new Set([...fx.layers.map((l) => l.digest), fx.configDigest])];
      const img = await remote.get(fx.ref, { client: env.client, cache: env.cache });
      await push(img, `${destProxy.host}/first/layered:v1`, { client: env.client, locations });
      for (const d of blobs)
        expect(await locations.repositories(destProxy.host, d)).toEqual(['first/layered']);

      destProxy.resetStats();
      const events: ProgressEvent[] = [];
      const again = await push(img, `${destProxy.host}/second/layered:v1`, {
        client: env.client,
        locations,
        onProgress: (e) => events.push(e),
      });
      expect(again.digest).toBe(fx.digest);
      const posts = destProxy.requests({ method: 'POST' });
      expect(posts.map((r) => r.status)).toEqual(blobs.map(() => 201));
      const mounts = posts.map((r) => new URL(r.url, 'http://x').searchParams);
      expect(mounts.map((q) => q.get('mount')).sort()).toEqual([...blobs].sort());
      expect(new Set(mounts.map((q) => q.get('from')))).toEqual(new Set(['first/layered']));
      expect(destProxy.requests({ method: 'PATCH' })).toEqual([]);
      expect(destProxy.requests({ method: 'PUT' }).map(line)).toEqual(['PUT …/manifests/v1 201']);
      for (const d of blobs) expect(events.filter((e) => e.id === d).at(-1)?.phase).toBe('mount');
      for (const d of blobs) {
        expect(await locations.repositories(destProxy.host, d)).toEqual(['second/layered', 'first/layered']);
      }
      const back = await readPushedImage(dest, 'second/layered', 'v1', fx.digest);
      expect(back.layers).toEqual(fx.layers);
    });

    test('a record the registry no longer backs costs no request: the declined mount opens the upload', async () => {
      const fx = env.fixtures.small;
      const locations = new BlobLocations(join(dir, 'stale'));
      const blobs = [...new Set([...fx.layers.map((l) => l.digest), fx.configDigest])];
      for (const d of blobs) await locations.remember(destProxy.host, 'never/pushed', d);
      const img = await remote.get(fx.ref, { client: env.client, cache: env.cache });
      destProxy.resetStats();
      await push(img, `${destProxy.host}/stale/small:v1`, { client: env.client, locations });
      // Per blob: the mount (declined: 202 with an upload session), the HEAD it leaves, the upload
      // into that session: as many requests as HEAD, POST and PUT without a record.
      for (const d of blobs) {
        const of = destProxy.log.filter(
          (r) => r.path.includes(d) || new URL(r.url, 'http://x').searchParams.get('mount') === d,
        );
        expect(of.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 202', 'HEAD 404']);
      }
      expect(destProxy.requests({ method: 'PUT', path: '/blobs/uploads/' })).toHaveLength(blobs.length);
      expect(destProxy.requests({ method: 'POST' })).toHaveLength(blobs.length);
      const back = await readPushedImage(dest, 'stale/small', 'v1', fx.digest);
      expect(back.layers).toEqual(fx.layers);
    });
  },
);
