import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DigestMismatchError, MediaType } from '@pd/oci-types';
import { decompress, extract, FileSlice } from '@pd/tar';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { BlobCache } from '../src/cache.js';
import {
  readDockerArchive,
  readOciLayout,
  writeDockerArchive,
  writeOciLayout,
} from '../src/formats/index.js';
import { verifiesItself } from '../src/formats/verified-stream.js';
import { RemoteLayer } from '../src/layers/remote.js';
import { layerSources } from '../src/layers/sources.js';
import type { Image as ImageModel } from '../src/model.js';
import * as remote from '../src/remote.js';
import { Image } from '../src/seed.js';
import { type Env, fixturesMissing, startEnv, tarFiles } from './helpers.js';

async function drainCount(s: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const chunk of s) n += chunk.length;
  return n;
}

async function drain(s: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of s) {
    // discard
  }
}

describe.skipIf(fixturesMissing())('remote images', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv();
  });
  afterAll(async () => {
    await env?.stop();
  });

  test('a pull is lazy: manifest and config only, layer bytes when a stream opens', async () => {
    const fx = env.fixtures.small;
    env.proxy.resetStats();
    const img = await remote.image(env.viaProxy(fx.ref), { client: env.client, cache: env.cache });
    const layers = await img.layers();
    // Every cheap answer, and the manifest bytes exactly as served.
    expect(await img.digest()).toBe(fx.digest);
    expect(await img.mediaType()).toBe(fx.mediaType);
    expect(await Promise.all(layers.map((l) => l.digest()))).toEqual(fx.layers.map((l) => l.digest));
    expect(await Promise.all(layers.map((l) => l.diffId()))).toEqual(fx.layers.map((l) => l.diffId));
    expect(await Promise.all(layers.map((l) => l.size()))).toEqual(fx.layers.map((l) => l.size));
    expect(layers[0]?.location).toEqual({ registry: env.proxy.host, repository: fx.repository });
    expect(layers.every((l) => verifiesItself(l))).toBe(true);
    expect((await img.config()).config?.Env).toEqual(fx.config.env);
    const layerDigests = fx.layers.map((l) => l.digest);
    expect(env.blobBytes(layerDigests)).toBe(0);
    expect(env.blobBytes([fx.configDigest])).toBeGreaterThan(0);

    // Opening the top layer moves exactly that layer.
    const top = layers.at(-1)!;
    const files = await tarFiles(await top.uncompressed());
    expect(env.blobBytes(layerDigests)).toBe(fx.layers.at(-1)!.size);
    expect(files.size).toBe(0); // WORKDIR's layer holds only the directory
    const copy = await tarFiles(await layers[1]!.uncompressed());
    expect(copy.get('/hello.txt')).toBe(fx.files['/hello.txt']);
  });

  test('platform selection from the multi-arch manifest list and the OCI index', async () => {
    const { list, index, platforms } = env.fixtures.multiArch;
    const amd64 = platforms.find((p) => p.architecture === 'amd64')!;
    const arm64 = platforms.find((p) => p.architecture === 'arm64')!;
    const opts = { client: env.client, cache: env.cache };

    const fromList = await remote.image(list.ref, { ...opts, platform: 'linux/arm64' });
    expect(await fromList.digest()).toBe(arm64.digest);
    expect(await fromList.mediaType()).toBe(MediaType.DockerManifest);
    expect(await tarFiles(await (await fromList.layers()).at(-1)!.uncompressed())).toEqual(
      new Map([['/arch', arm64.archFile]]),
    );
    const fromIndex = await remote.image(index.ref, {
      ...opts,
      platform: { os: 'linux', architecture: 'amd64' },
    });
    expect(await fromIndex.digest()).toBe(amd64.ociDigest);
    expect(await fromIndex.mediaType()).toBe(MediaType.OciManifest);
    // Default: the running machine's platform.
    const host = process.arch === 'arm64' ? arm64 : amd64;
    expect(await (await remote.image(list.ref, opts)).digest()).toBe(host.digest);
    expect(await (await remote.image(index.ref, opts)).digest()).toBe(host.ociDigest);

    // get keeps every platform.
    const all = await remote.get(list.ref, opts);
    expect(all.kind).toBe('index');
    if (all.kind !== 'index') return;
    expect(await all.digest()).toBe(list.digest);
    const children = await all.children();
    expect(children.map((c) => c.descriptor.digest).sort()).toEqual(platforms.map((p) => p.digest).sort());
    const child = await children.find((c) => c.descriptor.digest === arm64.digest)!.open();
    expect(await child.digest()).toBe(arm64.digest);

    // An index whose entry is the list (as podman and buildx nest them): followed to the image.
    const listBytes = Buffer.from(await all.rawManifest());
    const outer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [{ mediaType: MediaType.DockerManifestList, digest: list.digest, size: listBytes.length }],
      }),
    );
    const nested = `${list.ref.replace(/:[^:/]+$/, '')}:nested`;
    await env.client.putManifest(nested, outer, MediaType.OciIndex);
    const fromNested = await remote.image(nested, { ...opts, platform: 'linux/arm64' });
    expect(await fromNested.digest()).toBe(arm64.digest);
    expect(fromNested.ref.digest).toBe(arm64.digest);
    const viaIndex = await (await remote.index(nested, opts)).image('linux/arm64');
    expect(await viaIndex.digest()).toBe(arm64.digest);
    await expect(remote.index(env.fixtures.small.ref, opts)).rejects.toMatchObject({
      code: 'UNSUPPORTED_MEDIA_TYPE',
      hint: expect.stringContaining('single image'),
    });
  });

  test('the cache: a second pull of a shared layer moves 0 bytes; a flipped byte leaves no entry', async () => {
    const cache = new BlobCache(join(env.cacheDir, 'second'));
    const opts = { client: env.client, cache };
    const { small, withUser } = env.fixtures;
    // Both are built FROM the same busybox base: their bottom layer is one blob.
    expect(small.layers[0]!.digest).toBe(withUser.layers[0]!.digest);
    const base = small.layers[0]!;

    env.proxy.resetStats();
    const a = await remote.image(env.viaProxy(small.ref), opts);
    await drain(await (await a.layers())[0]!.compressed());
    expect(env.blobBytes([base.digest])).toBe(base.size);
    expect(await cache.has(base.digest)).toBe(true);

    env.proxy.resetStats();
    const b = await remote.image(env.viaProxy(withUser.ref), opts);
    const tar = await tarFiles(await (await b.layers())[0]!.uncompressed());
    expect(tar.size).toBeGreaterThan(0);
    expect(env.blobBytes([base.digest])).toBe(0);
    // The config too came from the cache the second time round for the same image.
    env.proxy.resetStats();
    await remote.image(env.viaProxy(small.ref), opts);
    expect(env.blobBytes()).toBe(0);

    // A flipped byte: the stream fails, and nothing lands in the cache (no temp file either).
    const victim = small.layers[1]!;
    const fault = env.proxy.inject({ fault: { kind: 'flip-byte' }, method: 'GET', path: victim.digest });
    const c = await remote.image(env.viaProxy(small.ref), opts);
    const layer = (await c.layers())[1]!;
    await expect(drain(await layer.compressed())).rejects.toBeInstanceOf(DigestMismatchError);
    fault.remove();
    expect(fault.hits).toBeGreaterThan(0);
    expect(await cache.has(victim.digest)).toBe(false);
    expect(readdirSync(join(cache.dir, 'tmp'))).toEqual([]);
    expect(await layer.localPath?.()).toBeUndefined();
    // And the next read fetches it whole and stores it.
    await drain(await layer.compressed());
    expect(await cache.has(victim.digest)).toBe(true);
    expect(await layer.localPath?.()).toBe(cache.path(victim.digest));
  });

  test('tarFile: none until the layer is fetched, then the cached blob, extracted checked against digest and diffID', async () => {
    const cache = new BlobCache(join(env.cacheDir, 'tarfile'));
    const fx = env.fixtures.small;
    const layer = (
      await (await remote.image(env.viaProxy(fx.ref), { client: env.client, cache })).layers()
    )[1]!;
    expect(await layer.tarFile?.()).toBeUndefined();
    await layer.fetch?.();
    const slice = (await layer.tarFile?.())!;
    expect(slice.path).toBe(cache.path(fx.layers[1]!.digest));
    expect(slice.uncompressedDigest).toBe(await layer.diffId());
    const dir = mkdtempSync(join(env.cacheDir, 'tarfile-out-'));
    const into = (d: string) => extract(slice, join(dir, d));
    await into('a');
    const files = await tarFiles(await layer.uncompressed());
    expect(files.size).toBeGreaterThan(0);
    for (const [name, text] of files) expect(readFileSync(join(dir, 'a', name), 'utf8')).toBe(text);
    // A blob that rotted in the cache fails the extraction (here the gzip stream breaks before
    // the digest's turn comes); fetch() checks a cached blob and fetches it again.
    const bytes = readFileSync(slice.path);
    bytes[bytes.length >> 1]! ^= 1;
    writeFileSync(slice.path, bytes);
    await expect(into('b')).rejects.toThrow(/corrupt gzip|digest/);
  });

  test('layerSources: the layers of a registry image are fetched into the cache side by side and read from there', async () => {
    const cache = new BlobCache(join(env.cacheDir, 'sources'));
    const fx = env.fixtures.small;
    const layers = await (await remote.image(env.viaProxy(fx.ref), { client: env.client, cache })).layers();
    env.proxy.resetStats();
    const { sources, close } = layerSources(layers);
    try {
      // Asking for the top layer's input: by then every layer's download has gone out.
      const top = await sources.at(-1)!();
      expect(top).toBeInstanceOf(FileSlice);
      const gets = env.proxy.requests({ method: 'GET', path: '/blobs/' });
      for (const l of fx.layers) expect(gets.filter((g) => g.path.endsWith(l.digest)).length).toBe(1);
      const inputs = [...(await Promise.all(sources.slice(0, -1).map((s) => s()))), top];
      expect(inputs.map((i) => (i as FileSlice).path)).toEqual(fx.layers.map((l) => cache.path(l.digest)));
      // Each reads back as its layer's tar (decompressed, checked against the diffID on the way).
      for (const [i, input] of inputs.entries()) {
        const tar = await drainCount(decompress(input));
        expect(tar).toBeGreaterThan(0);
        expect((input as FileSlice).uncompressedDigest).toBe(await layers[i]!.diffId());
      }
    } finally {
      close();
    }
  });

  test('a docker archive fetches every layer at once, each straight into its member, none into the cache', async () => {
    const fx = env.fixtures.layered;
    const cache = new BlobCache(join(env.cacheDir, 'prefetch'));
    const [first, ...later] = fx.layers;
    // The base layer (busybox, about 1 MB) comes at 1 MB/s: written in order, one layer at a
    // time, no other layer would be asked for before it ended.
    const slow = env.proxy.inject({
      fault: { kind: 'slow', bytesPerSecond: 1_000_000 },
      method: 'GET',
      path: first!.digest,
    });
    try {
      env.proxy.resetStats();
      const image = await remote.image(env.viaProxy(fx.ref), { client: env.client, cache });
      const out = join(cache.dir, 'layered.tar');
      await writeDockerArchive(out, [{ image, tags: [] }]);
      const gets = () => env.proxy.requests({ method: 'GET', path: /\/blobs\// });
      // The slow answer is logged once the proxy ends it, after its last pause.
      const base = await vi.waitFor(
        () => {
          const r = gets().find((g) => g.path.endsWith(first!.digest));
          if (!r) throw new Error('the base layer GET is not logged yet');
          return r;
        },
        { timeout: 5000 },
      );
      const rest = gets().filter((r) => later.some((l) => r.path.endsWith(l.digest)));
      expect(rest).toHaveLength(later.length);
      for (const r of rest) expect(r.startedAt).toBeLessThan(base.endedAt);
      // Every layer is in the archive, whole (read back and verified by the archive reader).
      const back = await readDockerArchive(out);
      const layers = await back.layers();
      expect(await Promise.all(layers.map((l) => l.digest()))).toEqual(fx.layers.map((l) => l.digest));
      for (const l of layers) await drain(await l.compressed());
      for (const l of fx.layers) expect(await cache.has(l.digest)).toBe(false);
    } finally {
      slow.remove();
    }
  });

  test('a layer whose socket is cut mid-body is fetched again through the client, over the same member', async () => {
    const fx = env.fixtures.layered;
    const cache = new BlobCache(join(env.cacheDir, 'archive-cut'));
    const victim = fx.layers.reduce((a, b) => (b.size > a.size ? b : a));
    expect(victim.size).toBeGreaterThan(200_000);
    const cut = env.proxy.inject({
      fault: { kind: 'reset-body', afterBytes: 100_000 },
      method: 'GET',
      path: victim.digest,
      times: 1,
    });
    try {
      env.proxy.resetStats();
      const image = await remote.image(env.viaProxy(fx.ref), { client: env.client, cache });
      const out = join(cache.dir, 'cut.tar');
      await writeDockerArchive(out, [{ image, tags: [] }]);
      expect(cut.hits).toBe(1);
      const gets = env.proxy.requests({ method: 'GET', path: victim.digest });
      expect(gets.map((r) => r.status)).toEqual([200, 200]);
      const back = await readDockerArchive(out);
      for (const l of await back.layers()) await drain(await l.compressed());
    } finally {
      cut.remove();
    }
  });

  test('a docker archive copies a layer the cache holds instead of fetching it again', async () => {
    const fx = env.fixtures.layered;
    const cache = new BlobCache(join(env.cacheDir, 'archive-cached'));
    const image = await remote.image(env.viaProxy(fx.ref), { client: env.client, cache });
    const held = fx.layers[0]!;
    await (await image.layers())[0]!.fetch?.();
    expect(await cache.has(held.digest)).toBe(true);
    env.proxy.resetStats();
    const out = join(cache.dir, 'cached.tar');
    await writeDockerArchive(out, [{ image, tags: ['cached:v1'] }]);
    const fetched = env.proxy.requests({ method: 'GET', path: /\/blobs\// }).map((r) => r.path);
    expect(fetched.some((p) => p.endsWith(held.digest))).toBe(false);
    expect(fetched.filter((p) => fx.layers.some((l) => p.endsWith(l.digest)))).toHaveLength(
      fx.layers.length - 1,
    );
    const back = await readDockerArchive(out);
    for (const l of await back.layers()) await drain(await l.compressed());
  });

  test('a docker archive whose layer arrives corrupt fails naming it, leaving no file', async () => {
    const fx = env.fixtures.layered;
    const cache = new BlobCache(join(env.cacheDir, 'prefetch-bad'));
    const victim = fx.layers.at(-1)!;
    const flip = env.proxy.inject({ fault: { kind: 'flip-byte' }, method: 'GET', path: victim.digest });
    try {
      const image = await remote.image(env.viaProxy(fx.ref), { client: env.client, cache });
      const out = join(env.cacheDir, 'prefetch-bad.tar');
      const err = await writeDockerArchive(out, [{ image, tags: [] }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
      expect((err as Error).message).toContain(victim.digest.slice(0, 19));
      expect(readdirSync(env.cacheDir).filter((n) => n.includes('prefetch-bad.tar'))).toEqual([]);
      expect(await cache.has(victim.digest)).toBe(false);
    } finally {
      flip.remove();
    }
  });

  test('an OCI layout starts the first layer downloads while the config is on its way', async () => {
    const fx = env.fixtures.layered;
    const cache = new BlobCache(join(env.cacheDir, 'early'));
    const out = mkdtempSync(join(tmpdir(), 'pd-early-'));
    try {
      // The config's answer held back a second, as from a far registry: the layers need nothing
      // of it, so their GETs go out beside it, not one round trip after it.
      const hold = env.proxy.inject({
        method: 'GET',
        path: fx.configDigest,
        fault: { kind: 'delay', ms: 1000 },
      });
      env.proxy.resetStats();
      const img = await remote.image(env.viaProxy(fx.ref), { client: env.client, cache });
      await writeOciLayout(join(out, 'layout'), img, { tag: 'v1' });
      hold.remove();
      const [config] = env.proxy.requests({ method: 'GET', path: fx.configDigest });
      const layers = env.proxy
        .requests({ method: 'GET', path: '/blobs/' })
        .filter((r) => !r.path.endsWith(fx.configDigest));
      expect(layers.map((r) => r.path.split('/').at(-1)).sort()).toEqual(
        fx.layers.map((l) => l.digest).sort(),
      );
      const early = layers.filter((r) => r.startedAt < config!.endedAt - 500);
      // As many as the writer downloads at once (oci-layout-writer.ts: 6).
      expect(early.length).toBe(Math.min(6, fx.layers.length));
      const back = (await readOciLayout(join(out, 'layout'))) as ImageModel;
      expect(await Promise.all((await back.layers()).map((l) => l.digest()))).toEqual(
        fx.layers.map((l) => l.digest),
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('a config that is not the manifest’s stops the early layer downloads; nothing is left', async () => {
    const fx = env.fixtures.layered;
    const cache = new BlobCache(join(env.cacheDir, 'early-bad'));
    const out = mkdtempSync(join(tmpdir(), 'pd-early-'));
    try {
      const flip = env.proxy.inject({ method: 'GET', path: fx.configDigest, fault: { kind: 'flip-byte' } });
      const img = await remote.image(env.viaProxy(fx.ref), { client: env.client, cache });
      await expect(writeOciLayout(join(out, 'layout'), img)).rejects.toThrow();
      flip.remove();
      expect(flip.hits).toBe(1);
      // The downloads begun before the config failed were stopped and waited for.
      expect(existsSync(join(out, 'layout'))).toBe(false);
      expect(readdirSync(join(cache.dir, 'tmp'))).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('pull({ lazy: false }) downloads every layer into the cache at once', async () => {
    const cacheDir = join(env.cacheDir, 'eager');
    process.env.PD_CACHE_DIR = cacheDir;
    try {
      const fx = env.fixtures.layered;
      const img = await Image.pull(env.viaProxy(fx.ref), { lazy: false, client: env.client });
      const cache = new BlobCache(cacheDir);
      for (const l of fx.layers) expect(await cache.has(l.digest)).toBe(true);
      expect((await img.layers()).every((l) => l instanceof RemoteLayer)).toBe(true);
      expect(img.name).toBe(env.viaProxy(fx.ref));
    } finally {
      process.env.PD_CACHE_DIR = env.cacheDir;
    }
  });
});
