import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  dockerMissing,
  type FaultProxy,
  type Fixtures,
  fixtureImages,
  type ProxiedRequest,
  type RunningRegistry,
  readPushedImage,
  registryMissing,
  runcMissing,
  skopeo,
  skopeoMissing,
  startFaultProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, pd } from './helpers.js';

// Every request of one `pd copy` (and the layers' connections of the commands that read every
// layer: pull, export, flatten, sbom, a first run), as a counting proxy in
// front of each registry saw it (issue 15): a regression that adds a round trip (a HEAD before a
// mount, a config fetch, a second ping, a manifest fetched twice, a layer's connection opened
// after the manifest) or that reads a blob twice fails here. A copy is a fresh process with an
// empty cache, as in the bench.

const missing = registryMissing() ?? dockerMissing() ?? skopeoMissing();

/** `METHOD path status`, the repository part of the path and the query left out. */
const line = (r: ProxiedRequest) =>
  `${r.method} ${r.path.replace(/^\/v2\/.+?\/(blobs|manifests)\//, '…/$1/')} ${r.status}`;

/** {@link line} with the blob's digest as `BLOB`. */
const anyBlob = (r: ProxiedRequest) => line(r).replace(/blobs\/sha256:[0-9a-f]{64}/, 'blobs/BLOB');

/**
 * Whether the copy spared round trips: the source's manifest GET sent before the ping answered
 * (beside it, not after it), the manifest PUT on a connection an earlier request used. A new
 * connection costs a round trip (two with TLS): 120 ms of a copy with 40 ms between pd and the
 * registry, when short answers left unread held their sockets.
 */
function reusedConnections(p: FaultProxy): { manifestBesidePing: boolean; putOnEarlier: boolean } {
  const ping = p.log.find((r) => r.path === '/v2/');
  const manifest = p.log.find((r) => r.path.includes('/manifests/'));
  const put = p.log.at(-1)!;
  return {
    // The manifest GET goes out before the ping has answered, on a connection of its own.
    manifestBesidePing: manifest !== undefined && ping !== undefined && manifest.startedAt < ping.endedAt,
    putOnEarlier: p.log.slice(0, -1).some((r) => r.connection === put.connection),
  };
}

/** Blob files the copy left in pd's cache. */
function cachedBlobs(cacheDir: string): string[] {
  const dir = join(cacheDir, 'blobs', 'sha256');
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f]{64}$/.test(f)) : [];
}

describe.skipIf(missing)('pd copy: the requests of one copy', () => {
  let registry: RunningRegistry;
  let second: RunningRegistry;
  let proxy: FaultProxy;
  let proxy2: FaultProxy;
  let fx: Fixtures;
  const iso = isolatedEnv();

  beforeAll(async () => {
    registry = await startRegistry();
    second = await startRegistry();
    fx = await fixtureImages(registry);
    proxy = await startFaultProxy(registry.url);
    proxy2 = await startFaultProxy(second.url);
  }, 900_000);
  afterAll(async () => {
    await Promise.all([proxy?.stop(), proxy2?.stop()]);
    await Promise.all([registry?.stop(), second?.stop()]);
    iso.cleanup();
  });

  const copy = async (src: string, dst: string) => {
    const r = await pd(['copy', src, dst], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
  };
  const rawManifest = async (ref: string) =>
    (await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${ref}`])).stdout;

  it('within one registry: ping, manifest, one mount per blob (config too), manifest PUT; nothing else', async () => {
    const image = fx.layered;
    const blobs = [...new Set([...image.layers.map((l) => l.digest), image.configDigest])];
    proxy.resetStats();
    await copy(`${proxy.host}/${image.repository}:${image.tag}`, `${proxy.host}/copied/layered:v1`);

    const log = proxy.log.map(line);
    expect(log.slice(0, 2).sort()).toEqual(['GET /v2/ 200', `GET …/manifests/${image.tag} 200`].sort());
    expect(log.slice(2)).toEqual([...blobs.map(() => 'POST …/blobs/uploads/ 201'), 'PUT …/manifests/v1 201']);
    const mounts = proxy.requests({ method: 'POST' }).map((r) => new URL(r.url, 'http://x').searchParams);
    expect(mounts.map((q) => q.get('mount')).sort()).toEqual([...blobs].sort());
    expect(new Set(mounts.map((q) => q.get('from')))).toEqual(new Set([image.repository]));
    expect(reusedConnections(proxy)).toEqual({ manifestBesidePing: true, putOnEarlier: true });
    expect(cachedBlobs(iso.env.PD_CACHE_DIR!)).toEqual([]);
    // The source's manifest, byte for byte (so its digest), as skopeo reads it back.
    expect(await rawManifest(`${registry.host}/copied/layered:v1`)).toBe(await rawManifest(image.ref));
  });

  it('between two registries: each blob read once; HEAD, POST and PUT each at the destination; nothing cached', async () => {
    const image = fx.layered;
    const blobs = [...new Set([...image.layers.map((l) => l.digest), image.configDigest])];
    proxy.resetStats();
    proxy2.resetStats();
    const src = `${proxy.host}/${image.repository}:${image.tag}`;
    await copy(src, `${proxy2.host}/mirror/layered:v1`);

    // Source: the manifest once, every blob once, nothing else (no HEAD, no re-fetch).
    const read = proxy.log.map(anyBlob);
    expect(read.slice(0, 2).sort()).toEqual(['GET /v2/ 200', `GET …/manifests/${image.tag} 200`].sort());
    expect(read.slice(2)).toEqual(blobs.map(() => 'GET …/blobs/BLOB 200'));
    const got = proxy.requests({ method: 'GET', path: '/blobs/' });
    expect(got.map((r) => r.path.split('/').at(-1)).sort()).toEqual([...blobs].sort());
    // Destination: one ping; per blob HEAD (absent), POST (a session), PUT (the bytes); the manifest.
    const dst = proxy2.log.map(anyBlob);
    const count = (l: string) => dst.filter((x) => x === l).length;
    expect(dst[0]).toBe('GET /v2/ 200');
    expect(dst.at(-1)).toBe('PUT …/manifests/v1 201');
    expect(count('HEAD …/blobs/BLOB 404')).toBe(blobs.length);
    expect(count('POST …/blobs/uploads/ 202')).toBe(blobs.length);
    expect(proxy2.requests({ method: 'PUT', path: '/blobs/uploads/' }).map((r) => r.status)).toEqual(
      blobs.map(() => 201),
    );
    expect(dst.length).toBe(3 * blobs.length + 2);
    expect(reusedConnections(proxy).manifestBesidePing).toBe(true);
    expect(reusedConnections(proxy2).putOnEarlier).toBe(true);
    expect(cachedBlobs(iso.env.PD_CACHE_DIR!)).toEqual([]);
    const back = await readPushedImage(second, 'mirror/layered', 'v1', image.digest);
    expect(back.layers).toEqual(image.layers);
    expect(await rawManifest(`${second.host}/mirror/layered:v1`)).toBe(await rawManifest(image.ref));

    // Again: the HEADs find every blob, so nothing is read from the source or sent.
    proxy.resetStats();
    proxy2.resetStats();
    await copy(src, `${proxy2.host}/mirror/layered:v1`);
    expect(proxy.requests({ path: '/blobs/' })).toEqual([]);
    expect(proxy2.log.map(anyBlob)).toEqual([
      'GET /v2/ 200',
      ...blobs.map(() => 'HEAD …/blobs/BLOB 200'),
      'PUT …/manifests/v1 201',
    ]);
  });

  it('between two registries, the piped layers come down on connections opened before the manifest was asked for', async () => {
    const image = fx.layered;
    proxy.resetStats();
    proxy2.resetStats();
    // A cache of its own: the shared one knows where the copies above put these blobs in the
    // second registry, and pd would mount them from there instead of reading the source.
    const r = await pd(
      ['copy', `${proxy.host}/${image.repository}:${image.tag}`, `${proxy2.host}/warm/layered:v1`],
      { env: { ...iso.env, PD_CACHE_DIR: join(iso.dir, 'cache-warm') } },
    );
    expect(r.code, r.stderr).toBe(0);
    const [manifest] = proxy.requests({ method: 'GET', path: `/manifests/${image.tag}` });
    // The layers piped from a connection of their own (those over 256 KiB; smaller blobs and the
    // config go through the client's kept-alive connections) take those preconnect opened.
    const piped = image.layers.filter((l) => l.size > 256 * 1024);
    const gets = proxy
      .requests({ method: 'GET', path: '/blobs/' })
      .filter((g) => piped.some((l) => g.path.endsWith(l.digest)));
    expect(piped.length).toBeGreaterThan(0);
    expect(gets.map((g) => g.status)).toEqual(piped.map(() => 200));
    for (const get of gets) expect(get.connection).toBeLessThan(manifest!.connection);
  });

  it("between two registries, the destination's ping does not wait for the source's manifest", async () => {
    const image = fx.layered;
    proxy.resetStats();
    proxy2.resetStats();
    await copy(`${proxy.host}/${image.repository}:${image.tag}`, `${proxy2.host}/early/layered:v1`);
    const [manifest] = proxy.requests({ method: 'GET', path: `/manifests/${image.tag}` });
    const pings = proxy2.requests({ path: /^\/v2\/$/ });
    // Sent before the source's manifest had answered (that goes out beside the source's ping):
    // one round trip less before the first blob moves. Still one ping at each registry.
    expect(pings).toHaveLength(1);
    expect(pings[0]!.startedAt).toBeLessThan(manifest!.endedAt);
    expect(proxy.requests({ path: /^\/v2\/$/ })).toHaveLength(1);
  });

  /** `pd argv(REF)` of the layered image through the proxy: every layer came on a connection opened before its manifest GET. */
  const layersBeforeManifest = async (argv: (ref: string) => string[], cache: string) => {
    const image = fx.layered;
    proxy.resetStats();
    // A cache each: the layers one of them cached would not be downloaded by the other.
    const env = { ...iso.env, PD_CACHE_DIR: join(iso.dir, cache) };
    const r = await pd(argv(`${proxy.host}/${image.repository}:${image.tag}`), { env, cwd: iso.dir });
    expect(r.code, r.stderr).toBe(0);
    const [manifest] = proxy.requests({ method: 'GET', path: `/manifests/${image.tag}` });
    const layers = proxy
      .requests({ method: 'GET', path: '/blobs/' })
      .filter((g) => image.layers.some((l) => g.path.endsWith(l.digest)));
    expect(layers.map((g) => g.status)).toEqual(image.layers.map(() => 200));
    // The proxy numbers connections as it accepts them: those preconnect opened came first, so
    // no layer waited for a connection's round trip after the manifest named it.
    for (const get of layers) expect(get.connection).toBeLessThan(manifest!.connection);
    expect(new Set(layers.map((g) => g.connection)).size).toBe(layers.length);
  };

  it.each([
    ['pd pull', (ref: string) => ['pull', ref, '-o', join(iso.dir, 'pulled-layered')], 'pull-cache'],
    ['pd export', (ref: string) => ['export', ref, join(iso.dir, 'exported-layered')], 'export-cache'],
    ['pd flatten', (ref: string) => ['flatten', ref, '-o', join(iso.dir, 'flat-layered')], 'flatten-cache'],
    ['pd sbom', (ref: string) => ['sbom', ref, '-o', join(iso.dir, 'layered.spdx.json')], 'sbom-cache'],
  ])(
    '%s: the layers come down on connections opened before the manifest was asked for',
    async (_, argv, cache) => layersBeforeManifest(argv, cache),
  );

  it.skipIf(runcMissing())(
    'a first pd run: the layers come down on connections opened before the manifest was asked for',
    async () => layersBeforeManifest((ref) => ['run', '--rm', ref, 'true'], 'run-cache'),
  );

  it('between two registries, a flipped byte in a layer: the copy fails and that blob never completes at the destination', async () => {
    const image = fx.layered;
    const layer = image.layers.reduce((a, b) => (b.size > a.size ? b : a));
    const fault = proxy.inject({
      fault: { kind: 'flip-byte' },
      method: 'GET',
      path: `/blobs/${layer.digest}`,
    });
    try {
      // A cache of its own: the shared one noted where the copies above put this layer in the
      // second registry, and pd would mount it from there instead of piping the tampered bytes.
      const r = await pd(
        ['copy', `${proxy.host}/${image.repository}:${image.tag}`, `${proxy2.host}/tampered/layered:v1`],
        { env: { ...iso.env, PD_CACHE_DIR: join(iso.dir, 'cache-tampered') } },
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`digest mismatch .*${layer.digest}`));
    } finally {
      fault.remove();
    }
    expect(fault.hits).toBeGreaterThan(0);
    const blob = await fetch(`${second.url}/v2/tampered/layered/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(blob.status).toBe(404);
    const manifest = await fetch(`${second.url}/v2/tampered/layered/manifests/v1`, { method: 'HEAD' });
    expect(manifest.status).toBe(404);
  });
});
