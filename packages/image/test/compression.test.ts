import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import {
  digestOf,
  type ImageConfig,
  type ImageIndex as IndexDocument,
  MediaType,
  parseImageConfig,
} from '@pd/oci-types';
import { decompress } from '@pd/tar';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BlobCache } from '../src/cache.js';
import { ComputedImage } from '../src/computed.js';
import { imageParts } from '../src/formats/image-blobs.js';
import { layerFromContents } from '../src/layers/built.js';
import { KnownLayer } from '../src/layers/known.js';
import type { Image, ImageIndex, Layer } from '../src/model.js';
import { appendLayers } from '../src/mutate/append.js';
import { compressAll, compressLayers, convertMediaTypes, withoutZstdLayers } from '../src/mutate/convert.js';

async function bytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** An image as a reader gives it: fixed manifest and config bytes (nothing is re-serialized). */
async function readImage(layers: Layer[], rawConfig: Uint8Array): Promise<Image> {
  const manifest = {
    schemaVersion: 2 as const,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: digestOf(rawConfig), size: rawConfig.byteLength },
    layers: await Promise.all(
      layers.map(async (l) => ({
        mediaType: await l.mediaType(),
        digest: await l.digest(),
        size: await l.size(),
      })),
    ),
  };
  const raw = Buffer.from(JSON.stringify(manifest));
  return {
    kind: 'image',
    location: undefined,
    mediaType: async () => MediaType.OciManifest,
    rawManifest: async () => raw,
    manifest: async () => structuredClone(manifest),
    digest: async () => digestOf(raw),
    size: async () => raw.byteLength,
    rawConfig: async () => rawConfig,
    config: async () => parseImageConfig(rawConfig),
    configDigest: async () => digestOf(rawConfig),
    layers: async () => [...layers],
  };
}

/** A config as the docker engine writes it for `docker import`: empty lists and maps are null. */
function dockerConfig(diffIds: string[]): ImageConfig {
  return JSON.parse(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        Hostname: '',
        Env: null,
        Cmd: null,
        Entrypoint: null,
        ExposedPorts: null,
        Volumes: null,
        Labels: null,
        OnBuild: null,
        WorkingDir: '',
      },
      container_config: { Env: null, Cmd: null, Healthcheck: { Test: null } },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created_by: 'test' })),
    }),
  ) as ImageConfig;
}

describe('compressing and recoding layers', () => {
  let dir: string;
  let cache: BlobCache;
  let plain: Layer[];
  let gz: Layer;
  /** What a docker archive reader gives for `docker save`: uncompressed layers, null-laden config. */
  let saved: Image;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pd-compression-'));
    cache = new BlobCache(dir);
    plain = [
      await layerFromContents({ '/etc/a': 'a'.repeat(10_000) }, { compression: 'none', cache }),
      await layerFromContents({ '/etc/b': 'bbb' }, { compression: 'none', cache }),
    ];
    gz = await layerFromContents({ '/etc/c': 'ccc' }, { compression: 'gzip', cache });
    const layers = [...plain, gz];
    const config = dockerConfig(await Promise.all(layers.map((l) => l.diffId())));
    saved = await readImage(layers, Buffer.from(JSON.stringify(config)));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('uncompressed layers become gzip blobs of the same tar; compressed ones are the same objects', async () => {
    const out = await compressLayers(saved, 'gzip', { cache });
    const m = await out.manifest();
    const before = await saved.manifest();
    expect(m.layers.map((l) => l.mediaType)).toEqual([
      MediaType.OciLayerGzip,
      MediaType.OciLayerGzip,
      MediaType.OciLayerGzip,
    ]);
    const layers = await out.layers();
    expect(layers[2]).toBe(gz);
    expect(m.layers[2]!.digest).toBe(before.layers[2]!.digest);
    for (const i of [0, 1]) {
      const blob = await bytes(await layers[i]!.compressed());
      expect(m.layers[i]!.digest).toBe(digestOf(blob));
      expect(m.layers[i]!.size).toBe(blob.byteLength);
      expect(m.layers[i]!.digest).not.toBe(before.layers[i]!.digest);
      // Same tar inside: the diffID (and so the config) does not change.
      expect(digestOf(gunzipSync(blob))).toBe(await plain[i]!.diffId());
      expect(await layers[i]!.diffId()).toBe(await plain[i]!.diffId());
    }
    // An OCI image written by pd: its config keeps the diffIDs and loses Docker's nulls.
    expect(await out.mediaType()).toBe(MediaType.OciManifest);
    expect(m.config.mediaType).toBe(MediaType.OciConfig);
    const config = await out.config();
    expect(config.rootfs).toEqual((await saved.config()).rootfs);
    expect(config.config).toEqual({ Hostname: '', WorkingDir: '' });
    // Deterministic: compressing again gives the same manifest.
    expect(await (await compressLayers(saved, 'gzip', { cache })).digest()).toBe(await out.digest());
  });

  test('a tar compressed once is not compressed again while its blob is cached (the registry skips it)', async () => {
    const [p] = plain;
    let opened = 0;
    const counting = new KnownLayer({
      digest: await p!.digest(),
      diffId: await p!.diffId(),
      size: await p!.size(),
      mediaType: MediaType.OciLayer,
      open: (o) => {
        opened++;
        return p!.compressed(o);
      },
    });
    const config = Buffer.from(JSON.stringify(dockerConfig([await p!.diffId()])));
    const first = await (
      await compressLayers(await readImage([counting], config), 'gzip', { cache })
    ).manifest();
    const reads = opened;
    const second = await (
      await compressLayers(await readImage([counting], config), 'gzip', { cache })
    ).manifest();
    expect(second.layers).toEqual(first.layers);
    expect(opened).toBe(reads);
    // Once the blob is gone from the cache, it is made again (same bytes).
    await cache.remove(first.layers[0]!.digest);
    const third = await (
      await compressLayers(await readImage([counting], config), 'gzip', { cache })
    ).manifest();
    expect(third.layers).toEqual(first.layers);
    expect(opened).toBe(reads + 1);
  });

  test('none, or nothing uncompressed: the image itself, every digest kept', async () => {
    expect(await compressLayers(saved, 'none', { cache })).toBe(saved);
    const gzOnly = new ComputedImage({
      layers: [gz],
      config: dockerConfig([await gz.diffId()]),
      family: 'oci',
    });
    expect(await compressLayers(gzOnly, 'zstd', { cache })).toBe(gzOnly);
    // A non-distributable (foreign) layer is never re-encoded, even uncompressed.
    const [p] = plain;
    const foreign = new KnownLayer({
      digest: await p!.digest(),
      diffId: await p!.diffId(),
      size: await p!.size(),
      mediaType: MediaType.OciLayerNondistributable,
      open: (o) => p!.compressed(o),
    });
    const withForeign = await readImage(
      [foreign],
      Buffer.from(JSON.stringify(dockerConfig([await p!.diffId()]))),
    );
    expect(await compressLayers(withForeign, 'gzip', { cache })).toBe(withForeign);
  });

  test('zstd makes an OCI image whose config holds no null', async () => {
    const out = await compressLayers(saved, 'zstd', { cache });
    const m = await out.manifest();
    expect(await out.mediaType()).toBe(MediaType.OciManifest);
    expect(m.config.mediaType).toBe(MediaType.OciConfig);
    expect(m.layers.map((l) => l.mediaType)).toEqual([
      MediaType.OciLayerZstd,
      MediaType.OciLayerZstd,
      MediaType.OciLayerGzip,
    ]);
    const raw = Buffer.from(await out.rawConfig()).toString();
    expect(raw).not.toContain('null');
    const config = parseImageConfig(await out.rawConfig());
    expect(config.rootfs.diff_ids).toEqual((await saved.config()).rootfs.diff_ids);
    expect(config.config).toEqual({ Hostname: '', WorkingDir: '' });
    expect(config.container_config).toEqual({ Healthcheck: {} });
    const blob = await bytes(await (await out.layers())[0]!.compressed());
    expect(blob.subarray(0, 4)).toEqual(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
  });

  test('appending a zstd layer to a Docker image gives an OCI manifest, not a Docker zstd type', async () => {
    const docker = await compressLayers(await convertMediaTypes(saved, 'docker'), 'gzip', { cache });
    expect(await docker.mediaType()).toBe(MediaType.DockerManifest);
    const z = await layerFromContents({ '/z': 'z' }, { compression: 'zstd', family: 'docker', cache });
    const out = await appendLayers(docker, [z]);
    const m = await out.manifest();
    expect(await out.mediaType()).toBe(MediaType.OciManifest);
    expect(m.mediaType).toBe(MediaType.OciManifest);
    expect(m.config.mediaType).toBe(MediaType.OciConfig);
    expect(m.layers.at(-1)!.mediaType).toBe(MediaType.OciLayerZstd);
    expect(m.layers.slice(0, -1).every((l) => l.mediaType === MediaType.OciLayerGzip)).toBe(true);
    expect(Buffer.from(await out.rawConfig()).toString()).not.toContain('null');
  });

  test('an OCI config written by pd never carries Docker nulls (convertMediaTypes)', async () => {
    const docker = await convertMediaTypes(saved, 'docker');
    expect(Buffer.from(await docker.rawConfig()).toString()).toContain('"Env":null');
    const oci = await convertMediaTypes(docker, 'oci');
    const text = Buffer.from(await oci.rawConfig()).toString();
    expect(text).not.toContain('null');
    expect((await oci.manifest()).config.digest).toBe(digestOf(await oci.rawConfig()));
    // A further conversion starts from what the OCI image is: nothing is put back.
    expect(parseImageConfig(await (await convertMediaTypes(oci, 'docker')).rawConfig()).config).toEqual({
      Hostname: '',
      WorkingDir: '',
    });
  });

  test("sinks writing OCI drop the nulls of a Docker manifest's config; 'keep' keeps its bytes", async () => {
    const docker = await convertMediaTypes(saved, 'docker');
    const oci = await imageParts(docker, 'oci');
    expect(oci.descriptor.mediaType).toBe(MediaType.OciManifest);
    expect(Buffer.from(oci.config.data).toString()).not.toContain('null');
    expect(oci.config.descriptor.digest).toBe(digestOf(oci.config.data));
    expect(JSON.parse(Buffer.from(oci.manifest.data).toString()).config).toEqual(oci.config.descriptor);
    const kept = await imageParts(docker, 'keep');
    expect(kept.descriptor.digest).toBe(await docker.digest());
    expect(kept.config.data).toEqual(await docker.rawConfig());
  });

  test('zstd layers made gzip for docker load: same tars, gzip bytes', async () => {
    const z = await compressLayers(saved, 'zstd', { cache });
    const out = await withoutZstdLayers(z, { cache });
    const m = await out.manifest();
    expect(m.layers.every((l) => l.mediaType === MediaType.OciLayerGzip)).toBe(true);
    for (const [i, layer] of (await out.layers()).entries()) {
      const blob = await bytes(await layer.compressed());
      expect(blob.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
      expect(digestOf(await bytes(decompress((await layer.compressed()) as Readable)))).toBe(
        (await saved.config()).rootfs.diff_ids[i],
      );
    }
    expect(await withoutZstdLayers(saved, { cache })).toBe(saved);
  });

  test('an index: changed children get new descriptors; a Docker manifest list with an OCI child becomes an OCI index', async () => {
    // A Docker schema 2 image with uncompressed layers, in a Docker manifest list.
    const child = await convertMediaTypes(saved, 'docker');
    expect(await child.mediaType()).toBe(MediaType.DockerManifest);
    const childRaw = await child.rawManifest();
    const list: IndexDocument = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifestList,
      manifests: [
        {
          mediaType: MediaType.DockerManifest,
          digest: await child.digest(),
          size: childRaw.byteLength,
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    };
    const listBytes = Buffer.from(JSON.stringify(list));
    const index: ImageIndex = {
      kind: 'index',
      location: undefined,
      mediaType: async () => MediaType.DockerManifestList,
      rawManifest: async () => listBytes,
      manifest: async () => structuredClone(list),
      digest: async () => digestOf(listBytes),
      size: async () => listBytes.byteLength,
      children: async () => [{ descriptor: list.manifests[0]!, open: async () => child }],
    };
    expect(await compressAll(index, 'none', { cache })).toBe(index);
    // gzip: the child stays Docker schema 2, so the list stays a list, naming the new child.
    const gzipped = (await compressAll(index, 'gzip', { cache })) as ImageIndex;
    expect(await gzipped.mediaType()).toBe(MediaType.DockerManifestList);
    const [gzKid] = await gzipped.children();
    const gzChild = (await gzKid!.open()) as Image;
    expect(await gzChild.mediaType()).toBe(MediaType.DockerManifest);
    expect((await gzipped.manifest()).manifests[0]!.digest).toBe(await gzChild.digest());
    expect(await gzChild.digest()).not.toBe(await child.digest());
    expect(await gzChild.configDigest()).toBe(await child.configDigest());
    const out = await compressAll(index, 'zstd', { cache });
    expect(out.kind).toBe('index');
    const doc = await (out as ImageIndex).manifest();
    expect(await out.mediaType()).toBe(MediaType.OciIndex);
    expect(doc.mediaType).toBe(MediaType.OciIndex);
    const [kid] = await (out as ImageIndex).children();
    const opened = (await kid!.open()) as Image;
    expect(doc.manifests[0]).toEqual({
      mediaType: MediaType.OciManifest,
      digest: await opened.digest(),
      size: await opened.size(),
      platform: { os: 'linux', architecture: 'amd64' },
    });
    expect(await out.digest()).toBe(digestOf(await out.rawManifest()));
  });
});
