import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaType } from '@pd/oci-types';
import {
  dockerMissing,
  type Fixtures,
  fixtureImages,
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
  type ArchiveFormatError,
  ImageNotFoundError,
  LayoutError,
  readDockerArchive,
  readOciArchive,
  readOciLayout,
  sniffFormat,
  writeOciArchive,
  writeOciLayout,
} from '../../src/formats/index.js';
import type { Image, ImageIndex, Layer, ProgressEvent } from '../../src/model.js';
import { convertMediaTypes } from '../../src/mutate/convert.js';
import {
  cleanupTempDirs,
  dockerSave,
  fileLayer,
  makeLayer,
  readText,
  sha256File,
  simpleImage,
  streamToBuffer,
  tempDir,
} from './helpers.js';

const skip = dockerMissing() ?? registryMissing() ?? skopeoMissing() ?? umociMissing();

interface IndexJson {
  manifests: Array<{ digest: string; mediaType: string; annotations?: Record<string, string> }>;
}

async function indexJson(dir: string): Promise<IndexJson> {
  return JSON.parse(await readText(join(dir, 'index.json'))) as IndexJson;
}

describe.skipIf(skip)('OCI image layouts', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  let dir: string;
  let saved: string;
  // docker save (before Docker 25) gives Docker schema 2 images whose configs hold Docker's
  // nulls, which an OCI layout cannot (pd converts: a new config and manifest digest): the images
  // here are taken as OCI images, so that digests compare one to one. What the nulls become is
  // tested in oci-schemas.test.ts.
  const image = async (tag: string): Promise<Image> =>
    convertMediaTypes(await readDockerArchive(saved, { tag }), 'oci');

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
    dir = await tempDir();
    saved = join(dir, 'saved.tar');
    await dockerSave(saved, [fx.small.local, fx.layered.local, fx.withUser.local]);
  }, 900_000);

  afterAll(async () => {
    await registry?.stop();
    await cleanupTempDirs();
  });

  test('umoci unpacks what pd writes: files, whiteouts and opaque directories applied', async () => {
    const layout = join(dir, 'umoci-layout');
    const layered = await image(fx.layered.local);
    const entry = await writeOciLayout(layout, layered, { tag: 'layered' });
    expect(entry.digest).toBe(await layered.digest());
    expect(await sniffFormat(layout)).toBe('oci-layout');
    const bundle = join(dir, 'umoci-bundle');
    await umoci(['unpack', '--rootless', '--image', `${layout}:layered`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    for (const [path, content] of Object.entries(fx.layered.files)) {
      expect(await readText(join(rootfs, path))).toBe(content);
    }
    for (const path of fx.layered.absent) await expect(stat(join(rootfs, path))).rejects.toThrow(/ENOENT/);
    expect((await readdir(join(rootfs, 'data'))).sort()).toEqual(['new']);
    const inspected = JSON.parse((await skopeo(['inspect', `oci:${layout}:layered`])).stdout) as {
      Digest: string;
    };
    expect(inspected.Digest).toBe(await layered.digest());
  });

  test('appending keeps other entries, replaces a same-named one, dedupes blobs', async () => {
    const layout = join(dir, 'append-layout');
    const small = await image(fx.small.local);
    const layered = await image(fx.layered.local);
    const withUser = await image(fx.withUser.local);
    await writeOciLayout(layout, small, { tag: 'one' });
    await writeOciLayout(layout, layered, { tag: 'two' });
    let idx = await indexJson(layout);
    expect(
      idx.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest]),
    ).toEqual([
      ['one', await small.digest()],
      ['two', await layered.digest()],
    ]);
    for (const [ref, img] of [
      ['one', small],
      ['two', layered],
    ] as const) {
      const back = await readOciLayout(layout, { ref });
      expect(await back.digest()).toBe(await img.digest());
      const inspected = JSON.parse((await skopeo(['inspect', `oci:${layout}:${ref}`])).stdout) as {
        Digest: string;
      };
      expect(inspected.Digest).toBe(await img.digest());
    }
    // Same image again: every blob is already there and skipped.
    const events: ProgressEvent[] = [];
    await writeOciLayout(layout, small, { tag: 'three', onProgress: (e) => events.push(e) });
    const blobs = [
      await small.digest(),
      await small.configDigest(),
      ...(await small.manifest()).layers.map((l) => l.digest),
    ];
    // Blobs are written four at a time, so the events come in any order.
    expect(
      events
        .filter((e) => e.phase === 'skip')
        .map((e) => e.id)
        .sort(),
    ).toEqual(blobs.sort());
    expect(events.filter((e) => e.phase === 'write')).toEqual([]);
    // Re-using a name moves it.
    await writeOciLayout(layout, withUser, { tag: 'one' });
    idx = await indexJson(layout);
    expect(idx.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'])).toEqual([
      'two',
      'three',
      'one',
    ]);
    expect(await (await readOciLayout(layout, { ref: 'one' })).digest()).toBe(await withUser.digest());
    // An unnamed entry written twice appears once.
    await writeOciLayout(layout, layered);
    await writeOciLayout(layout, layered);
    idx = await indexJson(layout);
    expect(idx.manifests.filter((m) => m.annotations === undefined)).toHaveLength(1);
    // No temporary files left behind.
    const all = await readdir(layout, { recursive: true });
    expect(all.filter((n) => String(n).includes('pd-tmp'))).toEqual([]);
    // Several entries and no ref: the error lists them.
    const err = await readOciLayout(layout).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmbiguousImageError);
    expect((err as AmbiguousImageError).hint).toMatch(/@0 two, @1 three, @2 one/);
    expect((err as AmbiguousImageError).hint).toContain(`oci:${layout}:REF or oci:${layout}:@N`);
    await expect(readOciLayout(layout, { ref: 'four' })).rejects.toThrow(ImageNotFoundError);
    expect(await (await readOciLayout(layout, { ref: await small.digest() })).digest()).toBe(
      await small.digest(),
    );
  });

  test('reads a layout skopeo wrote, streams verified layers', async () => {
    const layout = join(dir, 'skopeo-layout');
    await skopeo(['copy', '-q', `docker-archive:${saved}:${fx.layered.local}`, `oci:${layout}:sk`]);
    const img = (await readOciLayout(layout)) as Image;
    expect(img.kind).toBe('image');
    const layers = await img.layers();
    expect(await Promise.all(layers.map((l) => l.diffId()))).toEqual(fx.layered.layers.map((l) => l.diffId));
    expect(await layers[0]!.mediaType()).toBe(MediaType.OciLayerGzip);
    const tar = await streamToBuffer(await layers[1]!.uncompressed());
    expect(tar.includes(Buffer.from(fx.layered.files['/etc/app.conf']!))).toBe(true);
    const gz = await streamToBuffer(await layers[1]!.compressed());
    expect(gz.length).toBe(await layers[1]!.size());
    // For extract(): the blob where it lies, to be checked against its digest and, decompressed,
    // against the diffID skopeo's config names.
    const inPlace = await layers[1]!.tarFile?.();
    expect([inPlace?.path, inPlace?.digest, inPlace?.uncompressedDigest]).toEqual([
      join(layout, 'blobs', 'sha256', (await layers[1]!.digest()).slice('sha256:'.length)),
      await layers[1]!.digest(),
      fx.layered.layers[1]!.diffId,
    ]);
    // The same as a tar, through readOciArchive.
    const archive = join(dir, 'skopeo.tar');
    await skopeo(['copy', '-q', `oci:${layout}:sk`, `oci-archive:${archive}:sk`]);
    expect(await sniffFormat(archive)).toBe('oci-archive');
    const fromTar = (await readOciArchive(archive, { ref: 'sk' })) as Image;
    expect(await fromTar.digest()).toBe(await img.digest());
    expect((await fromTar.config()).rootfs.diff_ids).toEqual(fx.layered.layers.map((l) => l.diffId));
    const wrongReader = await readDockerArchive(archive).catch((e: unknown) => e);
    expect((wrongReader as ArchiveFormatError).message).toMatch(/an OCI image archive, not a docker archive/);
    expect((wrongReader as ArchiveFormatError).hint).toBe(`read it as oci-archive:${archive}`);
  });

  test('an OCI index with all its children: layout dir and archive, read by skopeo and pd', async () => {
    const src = join(dir, 'multi-src');
    await skopeo([
      'copy',
      '-q',
      '--all',
      '--src-tls-verify=false',
      `docker://${fx.multiArch.index.ref}`,
      `oci:${src}:multi`,
    ]);
    const index = (await readOciLayout(src, { ref: 'multi' })) as ImageIndex;
    expect(index.kind).toBe('index');
    expect(await index.digest()).toBe(fx.multiArch.index.digest);
    const out = join(dir, 'multi-out');
    await writeOciLayout(out, index, { tag: 'v1' });
    const raw = (await skopeo(['inspect', '--raw', `oci:${out}:v1`])).stdout;
    expect(raw).toBe(Buffer.from(await index.rawManifest()).toString());
    const archive = join(dir, 'multi.tar');
    const again = join(dir, 'multi-again.tar');
    await writeOciArchive(archive, index, { tag: 'v1' });
    await writeOciArchive(again, index, { tag: 'v1' });
    expect(await sha256File(archive)).toBe(await sha256File(again));
    const copied = join(dir, 'multi-copied');
    await skopeo(['copy', '-q', '--all', `oci-archive:${archive}:v1`, `oci:${copied}:v1`]);
    const back = (await readOciArchive(archive)) as ImageIndex;
    const children = await back.children();
    expect(children.map((c) => c.descriptor.digest).sort()).toEqual(
      fx.multiArch.platforms.map((p) => p.ociDigest).sort(),
    );
    for (const c of children) {
      const child = (await c.open()) as Image;
      const platform = fx.multiArch.platforms.find((p) => p.ociDigest === c.descriptor.digest)!;
      const files = await Promise.all(
        (await child.layers()).map((l) => l.uncompressed().then(streamToBuffer)),
      );
      expect(files.some((t) => t.includes(Buffer.from(platform.archFile)))).toBe(true);
    }
  });

  test('writeOciArchive is deterministic and loads in skopeo', async () => {
    const small = await image(fx.small.local);
    const a = join(dir, 'small-a.tar');
    const b = join(dir, 'small-b.tar');
    await writeOciArchive(a, small, { tag: 'latest' });
    await writeOciArchive(b, small, { tag: 'latest' });
    expect(await sha256File(a)).toBe(await sha256File(b));
    const inspected = JSON.parse((await skopeo(['inspect', `oci-archive:${a}:latest`])).stdout) as {
      Digest: string;
      Env: string[];
    };
    expect(inspected.Digest).toBe(await small.digest());
    expect(inspected.Env).toEqual(fx.small.config.env);
  });
});

describe('layout writer details (no peers needed)', () => {
  afterAll(cleanupTempDirs);

  async function imageWithLocalPath(localDir?: string) {
    const lf = await makeLayer({ 'x.txt': 'local\n' });
    let path = lf.path;
    if (localDir) {
      path = join(localDir, 'blob');
      await copyFile(lf.path, path);
    }
    const layer: Layer & { localPath(): Promise<string> } = {
      ...fileLayer({ ...lf, path }),
      localPath: async () => path,
    };
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [lf.diffId] },
      }),
    );
    return {
      path,
      image: simpleImage(config, [layer], [{ mediaType: lf.mediaType, digest: lf.digest, size: lf.size }]),
      digest: lf.digest,
    };
  }

  test('a layer with a local file is hardlinked on the same filesystem', async () => {
    const { image, path, digest } = await imageWithLocalPath();
    const out = join(await tempDir(), 'layout');
    await writeOciLayout(out, image);
    const blob = join(out, 'blobs', 'sha256', digest.slice(7));
    expect((await stat(blob)).ino).toBe((await stat(path)).ino);
  });

  test('across filesystems it is copied instead', async (ctx) => {
    let shm: string;
    try {
      shm = await mkdtemp('/dev/shm/pd-formats-');
    } catch {
      return ctx.skip();
    }
    try {
      const { image, path, digest } = await imageWithLocalPath(shm);
      const out = join(await tempDir(), 'layout');
      await writeOciLayout(out, image);
      const blob = join(out, 'blobs', 'sha256', digest.slice(7));
      expect((await stat(blob)).ino).not.toBe((await stat(path)).ino);
      expect((await readFile(blob)).equals(await readFile(path))).toBe(true);
    } finally {
      await rm(shm, { recursive: true, force: true });
    }
  });

  test('concurrent writers into one layout keep every entry (index.json is updated under a lock)', async () => {
    const out = join(await tempDir(), 'layout');
    const tags = Array.from({ length: 8 }, (_, i) => `t${i}`);
    const images = await Promise.all(tags.map(() => imageWithLocalPath()));
    await Promise.all(images.map(({ image }, i) => writeOciLayout(out, image, { tag: tags[i] })));
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
      manifests: { annotations?: Record<string, string> }[];
    };
    const names = index.manifests.map((d) => d.annotations?.['org.opencontainers.image.ref.name']).sort();
    expect(names).toEqual(tags);
    expect((await readdir(out)).filter((f) => f.endsWith('.lock'))).toEqual([]);
  });

  test('a failed write leaves no new layout behind, and keeps an existing one as it was', async () => {
    const lf = await makeLayer({ 'x.txt': 'bytes that will not match\n' });
    const other = await makeLayer({ 'y.txt': 'other\n' });
    // The descriptor names `other`'s digest, the stream gives lf's bytes: the sink must refuse.
    const lying = fileLayer({ ...lf, digest: other.digest, size: lf.size });
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [lf.diffId] },
      }),
    );
    const bad = simpleImage(
      config,
      [lying],
      [{ mediaType: lf.mediaType, digest: other.digest, size: lf.size }],
    );
    const parent = await tempDir();
    const fresh = join(parent, 'new', 'layout');
    await expect(writeOciLayout(fresh, bad)).rejects.toThrow(/digest mismatch/);
    expect(await readdir(parent)).toEqual([]);

    const existing = join(parent, 'existing');
    const { image: good } = await imageWithLocalPath();
    await writeOciLayout(existing, good, { tag: 'good' });
    const before = await readText(join(existing, 'index.json'));
    await expect(writeOciLayout(existing, bad, { tag: 'bad' })).rejects.toThrow(/digest mismatch/);
    expect(await readText(join(existing, 'index.json'))).toBe(before);
  });

  test('refuses an invalid ref name and a directory that is not a layout', async () => {
    const { image } = await imageWithLocalPath();
    const out = join(await tempDir(), 'layout');
    await expect(writeOciLayout(out, image, { tag: 'no spaces' })).rejects.toThrow(/ref name/);
    const notLayout = await tempDir();
    await writeFile(join(notLayout, 'index.json'), '{}');
    await expect(writeOciLayout(notLayout, image)).rejects.toThrow(LayoutError);
    await expect(readOciLayout(join(notLayout, 'missing'))).rejects.toThrow(LayoutError);
    await expect(readOciLayout(notLayout)).rejects.toThrow(/no oci-layout file/);
  });
});
