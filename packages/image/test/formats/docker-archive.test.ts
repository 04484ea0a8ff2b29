import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { digestOf, MediaType } from '@pd/oci-types';
import { readEntries } from '@pd/tar';
import {
  docker,
  dockerMissing,
  type Fixtures,
  fixtureImages,
  gnuTar,
  type RunningRegistry,
  registryMissing,
  skopeo,
  skopeoMissing,
  startRegistry,
  umoci,
  umociMissing,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  AmbiguousImageError,
  ImageNotFoundError,
  readDockerArchive,
  readDockerArchiveAll,
  readOciArchive,
  sniffFormat,
  TarIndex,
  writeDockerArchive,
} from '../../src/formats/index.js';
import type { Layer } from '../../src/model.js';
import { convertMediaTypes } from '../../src/mutate/convert.js';
import {
  cleanupTempDirs,
  dockerRemove,
  dockerSave,
  extendImage,
  gnuTarDir,
  makeLayer,
  randomTag,
  readText,
  sha256,
  sha256File,
  streamToBuffer,
  tempDir,
} from './helpers.js';

const skip = dockerMissing() ?? registryMissing() ?? skopeoMissing();

/** Files of a layer tar (as @pd/tar reads them): name → content, regular files only. */
async function layerFiles(layer: Layer): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of readEntries(await layer.uncompressed())) {
    const body = await streamToBuffer(e.body);
    if (e.header.type === 'file') out.set(e.header.name.replace(/^\.\//, ''), body.toString());
  }
  return out;
}

describe.skipIf(skip)('docker archives', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  let dir: string;
  let saved: string;
  const loaded: string[] = [];

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
    dir = await tempDir();
    saved = join(dir, 'saved.tar');
    await dockerSave(saved, [fx.small.local, fx.layered.local, fx.withUser.local]);
  }, 900_000);

  afterAll(async () => {
    await dockerRemove(loaded);
    await registry?.stop();
    await cleanupTempDirs();
  });

  test('reads every image of a multi-image docker save: tags, configs, layers', async () => {
    expect(await sniffFormat(saved)).toBe('docker-archive');
    const all = await readDockerArchiveAll(saved);
    expect(all.map((e) => e.tags).sort()).toEqual(
      [[fx.small.local], [fx.layered.local], [fx.withUser.local]].sort(),
    );
    for (const f of [fx.small, fx.layered, fx.withUser]) {
      const image = await readDockerArchive(saved, { tag: f.local });
      expect(image.repoTags).toEqual([f.local]);
      // docker push keeps the config bytes: the registry's config digest is the image ID.
      expect(await image.configDigest()).toBe(f.configDigest);
      const config = await image.config();
      expect(config.config?.Env).toEqual(f.config.env);
      expect(config.rootfs.diff_ids).toEqual(f.layers.map((l) => l.diffId));
      const layers = await image.layers();
      expect(await Promise.all(layers.map((l) => l.diffId()))).toEqual(f.layers.map((l) => l.diffId));
      // docker save stores layers uncompressed: digest = diffID. Without a stored manifest (Docker
      // before 25) the image is Docker schema 2, as docker push and skopeo would send it.
      expect(await Promise.all(layers.map((l) => l.digest()))).toEqual(f.layers.map((l) => l.diffId));
      expect(new Set(await Promise.all(layers.map((l) => l.mediaType())))).toEqual(
        new Set([MediaType.DockerLayer]),
      );
      expect(await image.mediaType()).toBe(MediaType.DockerManifest);
      const manifest = await image.manifest();
      expect(manifest.config).toEqual({
        mediaType: MediaType.DockerConfig,
        digest: f.configDigest,
        size: (await image.rawConfig()).byteLength,
      });
      expect(manifest.layers.map((l) => l.digest)).toEqual(f.layers.map((l) => l.diffId));
      expect(await image.digest()).toBe(digestOf(await image.rawManifest()));
    }
  });

  test('picks images by normalized tag or index, and says what is there otherwise', async () => {
    const byFull = await readDockerArchive(saved, { tag: `docker.io/${fx.small.local}` });
    expect(await byFull.configDigest()).toBe(fx.small.configDigest);
    const noLatest = await readDockerArchive(saved, { tag: fx.small.local.replace(/:latest$/, '') });
    expect(await noLatest.configDigest()).toBe(fx.small.configDigest);
    const second = await readDockerArchive(saved, { index: 1 });
    expect(second.repoTags).toHaveLength(1);
    const missing = await readDockerArchive(saved, { tag: 'nope:1' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ImageNotFoundError);
    expect((missing as ImageNotFoundError).hint).toContain(fx.layered.local);
    const ambiguous = await readDockerArchive(saved).catch((e: unknown) => e);
    expect(ambiguous).toBeInstanceOf(AmbiguousImageError);
    expect((ambiguous as AmbiguousImageError).message).toMatch(/holds 3 images/);
    await expect(readDockerArchive(saved, { index: 3 })).rejects.toThrow(ImageNotFoundError);
  });

  test('layer streams are the layer tars, verified: files, whiteouts', async () => {
    const small = await readDockerArchive(saved, { tag: fx.small.local });
    const smallLayers = await small.layers();
    const withHello = await Promise.all(smallLayers.map(layerFiles));
    expect(withHello.some((files) => files.get('hello.txt') === fx.small.files['/hello.txt'])).toBe(true);
    const layered = await readDockerArchive(saved, { tag: fx.layered.local });
    const names = await Promise.all(
      (await layered.layers()).map(async (l) => [...(await layerFiles(l)).keys()]),
    );
    for (const w of fx.layered.whiteouts) expect(names[w.layer]).toContain(w.entry);
    // The compressed stream of an uncompressed member is the same tar, hashing to the diffID.
    const layer = smallLayers[0]!;
    const bytes = await streamToBuffer(await layer.compressed());
    expect(bytes.length).toBe(await layer.size());
    expect(sha256(bytes)).toBe(await layer.diffId());
    // Extractors read such a member where it lies in the archive, the same bytes.
    const slice = await layer.uncompressedFile?.();
    expect(slice?.path).toBe(saved);
    expect((await streamToBuffer(Readable.from(slice!))).equals(bytes)).toBe(true);
    // The same slice for extract(): the tar itself, its digest the diffID, nothing to decompress.
    const tar = await layer.tarFile?.();
    expect([tar?.path, tar?.start, tar?.digest, tar?.uncompressedDigest]).toEqual([
      saved,
      slice!.start,
      await layer.diffId(),
      undefined,
    ]);
  });

  for (const layout of ['classic', 'combined'] as const) {
    test(`${layout}: docker load + run of a pd-written archive with a new gzip layer`, async () => {
      const id = randomTag();
      const base = await readDockerArchive(saved, { tag: fx.small.local });
      const extra = await makeLayer({ 'pd/marker.txt': `marker ${id}\n` });
      const image = await extendImage(base, extra, id);
      const tag = `pd-formats/roundtrip:${layout}-${id}`;
      const out = join(dir, `${layout}-${id}.tar`);
      await writeDockerArchive(out, [{ image, tags: [tag] }], { layout });
      expect(await sniffFormat(out)).toBe(layout === 'classic' ? 'docker-archive' : 'combined');

      // The new layer is unknown to the engine, so docker load must read (and decompress) our member.
      loaded.push(tag);
      const load = await docker(['load', '-i', out]);
      expect(load.stdout).toContain(`Loaded image: ${tag}`);
      const inspect = await docker(['image', 'inspect', '--format', '{{.Id}} {{json .RootFS.Layers}}', tag]);
      const [imageId, layersJson] = inspect.stdout.trim().split(' ');
      expect(imageId).toBe(await image.configDigest());
      expect(JSON.parse(layersJson!)).toEqual([...fx.small.layers.map((l) => l.diffId), extra.diffId]);
      const runOut = await docker([
        'run',
        '--rm',
        '--network',
        'none',
        tag,
        'cat',
        '/hello.txt',
        '/pd/marker.txt',
      ]);
      expect(runOut.stdout).toBe(`${fx.small.files['/hello.txt']}marker ${id}\n`);

      // skopeo reads it as a docker archive: copying to dir: decompresses and checks every layer's diffID.
      const copied = join(dir, `skopeo-${layout}-${id}`);
      await skopeo(['copy', '-q', `docker-archive:${out}`, `dir:${copied}`]);
      const inspected = JSON.parse((await skopeo(['inspect', `docker-archive:${out}`])).stdout) as {
        Layers: string[];
        Labels: Record<string, string>;
      };
      expect(inspected.Labels['pd.test']).toBe(id);
      expect(inspected.Layers).toHaveLength(fx.small.layers.length + 1);

      // pd reads its own output back to the same image: the same config (image ID) and layers; a
      // classic archive to the same Docker schema 2 manifest, a combined one to the OCI manifest
      // its OCI view stores (what Docker ≥ 25 writes too).
      const back = await readDockerArchive(out);
      expect(back.repoTags).toEqual([tag]);
      expect(await back.configDigest()).toBe(await image.configDigest());
      // (A classic archive stores no manifest: read back, it is the Docker schema 2 one.)
      const family = layout === 'classic' ? 'docker' : 'oci';
      expect(await back.digest()).toBe(await (await convertMediaTypes(image, family)).digest());
      expect(await Promise.all((await back.layers()).map((l) => l.digest()))).toEqual(
        (await image.manifest()).layers.map((l) => l.digest),
      );
      const top = (await back.layers()).at(-1)!;
      expect(await top.mediaType()).toBe(
        layout === 'classic' ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip,
      );
      expect((await layerFiles(top)).get('pd/marker.txt')).toBe(`marker ${id}\n`);
      // extract() reads a gzip member in place only where a name gives its digest (blobs/sha256/
      // of a combined archive); a classic one's would cost a pass of its own, so it streams.
      const inPlace = await top.tarFile?.();
      if (layout === 'classic') expect(inPlace).toBeUndefined();
      else expect([inPlace?.digest, inPlace?.uncompressedDigest]).toEqual([extra.digest, extra.diffId]);
    });
  }

  test('combined: skopeo oci-archive and umoci read the same file', async (ctx) => {
    if (umociMissing()) ctx.skip();
    const id = randomTag();
    const layered = await readDockerArchive(saved, { tag: fx.layered.local });
    const tag = `pd-formats/combined:${id}`;
    const out = join(dir, `combined-${id}.tar`);
    await writeDockerArchive(out, [{ image: layered, tags: [tag] }], { layout: 'combined' });
    const inspected = JSON.parse((await skopeo(['inspect', `oci-archive:${out}:${id}`])).stdout) as {
      Digest: string;
    };
    // The OCI view holds the image as OCI (the Docker schema 2 source converted), config bytes kept.
    const oci = await readOciArchive(out, { ref: tag });
    if (oci.kind !== 'image') throw new Error('expected an image');
    expect(await oci.mediaType()).toBe(MediaType.OciManifest);
    expect(inspected.Digest).toBe(await oci.digest());
    expect(await oci.configDigest()).toBe(await layered.configDigest());
    expect((await oci.manifest()).layers.map((l) => l.digest)).toEqual(
      (await layered.manifest()).layers.map((l) => l.digest),
    );
    // index.json names it the way docker ≥ 25 and containerd do.
    const index = JSON.parse(
      (await TarIndex.open(out).then((t) => t.read('index.json', 1 << 20))).toString(),
    ) as {
      manifests: Array<{ annotations: Record<string, string> }>;
    };
    expect(index.manifests[0]!.annotations).toEqual({
      'io.containerd.image.name': `docker.io/${tag}`,
      'org.opencontainers.image.ref.name': id,
    });
    const layoutDir = join(dir, `untar-${id}`);
    await mkdir(layoutDir);
    await gnuTar(['-C', layoutDir, '-xf', out]);
    const bundle = join(dir, `bundle-${id}`);
    await umoci(['unpack', '--rootless', '--image', `${layoutDir}:${id}`, bundle]);
    for (const [path, content] of Object.entries(fx.layered.files)) {
      expect(await readText(join(bundle, 'rootfs', path))).toBe(content);
    }
    for (const path of fx.layered.absent) {
      await expect(readFile(join(bundle, 'rootfs', path))).rejects.toThrow(/ENOENT|EISDIR/);
    }
  });

  test('several images, repeated tags merged, deterministic bytes', async () => {
    const small = await readDockerArchive(saved, { tag: fx.small.local });
    const withUser = await readDockerArchive(saved, { tag: fx.withUser.local });
    const id = randomTag();
    const entries = [
      { image: small, tags: [`pd-formats/multi:a-${id}`] },
      { image: withUser, tags: [`pd-formats/multi:b-${id}`] },
      { image: small, tags: [`pd-formats/multi:c-${id}`, `pd-formats/multi:a-${id}`] },
    ];
    for (const layout of ['classic', 'combined'] as const) {
      const one = join(dir, `multi-${layout}-1.tar`);
      const two = join(dir, `multi-${layout}-2.tar`);
      await writeDockerArchive(one, entries, { layout });
      await writeDockerArchive(two, entries, { layout });
      expect(await sha256File(one)).toBe(await sha256File(two));
      const all = await readDockerArchiveAll(one);
      expect(all.map((e) => e.tags)).toEqual([
        [`pd-formats/multi:a-${id}`, `pd-formats/multi:c-${id}`],
        [`pd-formats/multi:b-${id}`],
      ]);
      const repositories = JSON.parse(
        (await (await TarIndex.open(one)).read('repositories', 1 << 20)).toString(),
      );
      expect(Object.keys(repositories)).toEqual(['pd-formats/multi']);
      loaded.push(...entries.flatMap((e) => e.tags));
      const load = await docker(['load', '-i', one]);
      for (const t of entries.flatMap((e) => e.tags)) expect(load.stdout).toContain(`Loaded image: ${t}`);
      const user = await docker([
        'image',
        'inspect',
        '--format',
        '{{.Config.User}}',
        `pd-formats/multi:b-${id}`,
      ]);
      expect(user.stdout.trim()).toBe(fx.withUser.config.user);
    }
  });

  test('reads the Docker ≥ 25 layout: blobs/sha256 members, OCI index beside manifest.json', async () => {
    const classic = await TarIndex.open(saved);
    const [entry] = (
      JSON.parse((await classic.read('manifest.json', 1 << 20)).toString()) as Array<{
        Config: string;
        RepoTags: string[];
        Layers: string[];
      }>
    ).filter((e) => e.RepoTags.includes(fx.layered.local));
    // Build it the way moby's save.go lays it out: uncompressed layers and the config under blobs/sha256.
    for (const variant of ['with-manifest', 'docker-25.0-empty-manifest'] as const) {
      const root = join(dir, `d25-${variant}`);
      await rm(root, { recursive: true, force: true });
      await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
      const put = async (data: Buffer) => {
        const d = sha256(data);
        await writeFile(join(root, 'blobs', 'sha256', d.slice(7)), data);
        return { digest: d, size: data.length };
      };
      const config = await put(await classic.read(entry!.Config, 1 << 22));
      const layers: Array<{ digest: string; size: number }> = [];
      for (const l of entry!.Layers) {
        const tmp = join(root, 'layer.tmp');
        await writeFile(tmp, await streamToBuffer(classic.open(l)));
        const d = await sha256File(tmp);
        await copyFile(tmp, join(root, 'blobs', 'sha256', d.slice(7)));
        await rm(tmp);
        layers.push({ digest: d, size: (await readFile(join(root, 'blobs', 'sha256', d.slice(7)))).length });
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: { mediaType: MediaType.OciConfig, ...config },
          layers:
            variant === 'with-manifest' ? layers.map((l) => ({ mediaType: MediaType.OciLayer, ...l })) : [],
        }),
      );
      const m = await put(manifest);
      await writeFile(join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      await writeFile(
        join(root, 'index.json'),
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciIndex,
          manifests: [
            {
              mediaType: MediaType.OciManifest,
              ...m,
              annotations: {
                'io.containerd.image.name': `docker.io/${fx.layered.local}`,
                'org.opencontainers.image.ref.name': 'latest',
              },
            },
          ],
        }),
      );
      await writeFile(
        join(root, 'manifest.json'),
        JSON.stringify([
          {
            Config: `blobs/sha256/${config.digest.slice(7)}`,
            RepoTags: [fx.layered.local],
            Layers: layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
          },
        ]),
      );
      const archive = join(dir, `d25-${variant}.tar`);
      await gnuTarDir(root, archive);
      expect(await sniffFormat(archive)).toBe('combined');
      const image = await readDockerArchive(archive);
      expect(await image.configDigest()).toBe(fx.layered.configDigest);
      const ls = await image.layers();
      expect(await Promise.all(ls.map((l) => l.digest()))).toEqual(fx.layered.layers.map((l) => l.diffId));
      // A stored manifest that matches is used as is; Docker 25.0's layer-less one is not.
      if (variant === 'with-manifest') expect(await image.digest()).toBe(m.digest);
      else expect((await image.manifest()).layers).toHaveLength(fx.layered.layers.length);
      const files = await layerFiles(ls[1]!);
      expect(files.get('etc/app.conf')).toBe(fx.layered.files['/etc/app.conf']);
    }
  });

  test('reads skopeo-made OCI layout + manifest.json with gzip members named by digest', async () => {
    const root = join(dir, 'skopeo-combined');
    await skopeo(['copy', '-q', `docker-archive:${saved}:${fx.small.local}`, `oci:${root}:latest`]);
    const index = JSON.parse(await readText(join(root, 'index.json'))) as {
      manifests: Array<{ digest: string }>;
    };
    const manifestDigest = index.manifests[0]!.digest;
    const manifest = JSON.parse(await readText(join(root, 'blobs', 'sha256', manifestDigest.slice(7)))) as {
      config: { digest: string };
      layers: Array<{ digest: string; mediaType: string }>;
    };
    await writeFile(
      join(root, 'manifest.json'),
      JSON.stringify([
        {
          Config: `blobs/sha256/${manifest.config.digest.slice(7)}`,
          RepoTags: ['pd-formats/skopeo:latest'],
          Layers: manifest.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
        },
      ]),
    );
    const archive = join(dir, 'skopeo-combined.tar');
    await gnuTarDir(root, archive);
    const image = await readDockerArchive(archive, { tag: 'pd-formats/skopeo' });
    expect(await image.digest()).toBe(manifestDigest);
    const layers = await image.layers();
    expect(await layers[0]!.mediaType()).toBe(MediaType.OciLayerGzip);
    // A gzip member is no layer tar to read in place; it is the blob, in place, for uploads.
    expect(await layers[0]!.uncompressedFile?.()).toBeUndefined();
    // For extract(): the blob in place, to be decompressed and checked against the diffID.
    const tar = await layers[0]!.tarFile?.();
    expect([tar?.digest, tar?.uncompressedDigest]).toEqual([
      manifest.layers[0]!.digest,
      fx.small.layers[0]!.diffId,
    ]);
    const blob = (await layers[0]!.compressedFile?.())!;
    expect(blob.path).toBe(archive);
    expect(blob.digest).toBe(manifest.layers[0]!.digest);
    expect(
      (await streamToBuffer(Readable.from(blob))).equals(await streamToBuffer(await layers[0]!.compressed())),
    ).toBe(true);
    // diffIDs come from skopeo's (rewritten) config; the gzip members decompress to them.
    expect(await Promise.all(layers.map((l) => l.diffId()))).toEqual(fx.small.layers.map((l) => l.diffId));
    const files = await Promise.all(layers.map(layerFiles));
    expect(files.some((f) => f.get('hello.txt') === fx.small.files['/hello.txt'])).toBe(true);
  });
});
