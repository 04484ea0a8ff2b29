import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DigestMismatchError, PdError, SizeMismatchError, ValidationError } from '@pd/oci-types';
import { extract } from '@pd/tar';
import { gnuTarMissing } from '@pd/test-fixtures';
import { afterAll, describe, expect, test } from 'vitest';
import { InconsistentImageError } from '../../src/errors.js';
import {
  ArchiveFormatError,
  CompressedArchiveError,
  MissingMemberError,
  readDockerArchive,
  readOciLayout,
  sniffFormat,
  TruncatedArchiveError,
  UnsafeMemberError,
  writeDockerArchive,
  writeOciArchive,
  writeOciLayout,
} from '../../src/formats/index.js';
import type { Image } from '../../src/model.js';
import {
  cleanupTempDirs,
  fileLayer,
  gnuTarDir,
  type LayerFile,
  makeLayer,
  run,
  sha256,
  simpleImage,
  streamToBuffer,
  tempDir,
} from './helpers.js';

afterAll(cleanupTempDirs);

const LAYER_ID = sha256('pd hostile layer id').slice(7);

interface Hand {
  root: string;
  layer: LayerFile;
  configName: string;
  layerName: string;
  /** Re-tar `root` (after changes) into a new archive. */
  pack(name?: string): Promise<string>;
}

/** A classic docker archive built by hand (GNU tar), to be damaged by each test. */
async function handArchive(compression: 'none' | 'gzip' = 'none'): Promise<Hand> {
  const dir = await tempDir();
  const root = join(dir, 'root');
  await mkdir(join(root, LAYER_ID), { recursive: true });
  const layer = await makeLayer(
    { 'hello.txt': 'hi\n', 'data.bin': randomBytes(200_000).toString('base64') },
    compression,
  );
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['cat', '/hello.txt'] },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    }),
  );
  const configName = `${sha256(config).slice(7)}.json`;
  const layerName = `${LAYER_ID}/layer.tar`;
  await writeFile(join(root, configName), config);
  await copyFile(layer.path, join(root, layerName));
  await writeFile(
    join(root, 'manifest.json'),
    JSON.stringify([{ Config: configName, RepoTags: ['hostile/test:latest'], Layers: [layerName] }]),
  );
  let n = 0;
  return {
    root,
    layer,
    configName,
    layerName,
    async pack(name = `a${n++}.tar`) {
      const out = join(dir, name);
      await gnuTarDir(root, out);
      return out;
    },
  };
}

/** Invert one byte (at `offset`, or in the middle of a smaller file). */
async function flipByte(path: string, offset: number): Promise<void> {
  const b = await readFile(path);
  const at = offset < b.length ? offset : Math.floor(b.length / 2);
  b[at] = b[at]! ^ 0xff;
  await writeFile(path, b);
}

async function writeManifest(h: Hand, entry: Record<string, unknown>): Promise<void> {
  await writeFile(join(h.root, 'manifest.json'), JSON.stringify([entry]));
}

/** Files left in a directory (temporary files of a failed write included). */
async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe.skipIf(gnuTarMissing())('hostile and corrupt docker archives', () => {
  test('the untouched hand-made archive reads fine (the baseline the others damage)', async () => {
    const h = await handArchive();
    const image = await readDockerArchive(await h.pack());
    const [layer] = await image.layers();
    const tar = await streamToBuffer(await layer!.uncompressed());
    expect(sha256(tar)).toBe(h.layer.diffId);
    expect(await layer!.digest()).toBe(h.layer.diffId);
  });

  test('truncated archive', async () => {
    const h = await handArchive();
    const full = await readFile(await h.pack());
    const out = join(h.root, '..', 'cut.tar');
    await writeFile(out, full.subarray(0, Math.floor(full.length / 2)));
    await expect(readDockerArchive(out)).rejects.toThrow(TruncatedArchiveError);
  });

  test('manifest.json pointing outside the archive', async () => {
    for (const entry of [
      { Config: '../../etc/passwd', Layers: [] },
      { Config: 'x.json', Layers: ['/etc/passwd'] },
      { Config: 'x.json', Layers: [`${LAYER_ID}/../../escape/layer.tar`] },
    ]) {
      const h = await handArchive();
      await writeManifest(h, { ...entry, RepoTags: ['hostile/test:latest'] });
      const err = await readDockerArchive(await h.pack()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnsafeMemberError);
      expect((err as UnsafeMemberError).message).toMatch(/outside the archive/);
    }
  });

  test('a layer member that is a symlink leaving the archive', async () => {
    const h = await handArchive();
    await rm(join(h.root, h.layerName));
    await symlink('../../../../etc/passwd', join(h.root, h.layerName));
    await expect(readDockerArchive(await h.pack())).rejects.toThrow(UnsafeMemberError);
  });

  test('members the manifest names but the archive lacks', async () => {
    const h = await handArchive();
    await rm(join(h.root, h.layerName));
    const err = await readDockerArchive(await h.pack()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingMemberError);
    expect((err as MissingMemberError).member).toBe(h.layerName);
  });

  test('flipped byte in an uncompressed layer: DigestMismatchError, and no output of any writer', async () => {
    const h = await handArchive();
    await flipByte(join(h.root, h.layerName), 2000);
    const archive = await h.pack();
    const image = await readDockerArchive(archive); // lazy: nothing read yet
    const [layer] = await image.layers();
    await expect(streamToBuffer(await layer!.uncompressed())).rejects.toThrow(DigestMismatchError);
    const slice = await layer!.uncompressedFile?.();
    await expect(extract(slice!, await tempDir())).rejects.toThrow(DigestMismatchError);
    const out = await tempDir();
    const before = await leftovers(out);
    await expect(
      writeDockerArchive(join(out, 'x.tar'), [{ image, tags: ['x:1'] }], { layout: 'classic' }),
    ).rejects.toThrow(DigestMismatchError);
    await expect(writeDockerArchive(join(out, 'y.tar'), [{ image, tags: ['x:1'] }])).rejects.toThrow(
      DigestMismatchError,
    );
    await expect(writeOciArchive(join(out, 'z.tar'), image)).rejects.toThrow(DigestMismatchError);
    expect(await leftovers(out)).toEqual(before);
    const layout = join(out, 'layout');
    await expect(writeOciLayout(layout, image, { tag: 'x' })).rejects.toThrow(DigestMismatchError);
    // The layout directory was new, so it is gone again with whatever had been written into it.
    expect(await leftovers(out)).toEqual(before);
  });

  test('aborting in the middle of a layer stops the write and leaves nothing', async () => {
    const h = await handArchive();
    const image = await readDockerArchive(await h.pack());
    const out = await tempDir();
    const controller = new AbortController();
    const write = writeDockerArchive(join(out, 'x.tar'), [{ image, tags: ['x:1'] }], {
      signal: controller.signal,
      onProgress: (e) => {
        if (e.done > 0) controller.abort();
      },
    });
    await expect(write).rejects.toThrow(/abort/i);
    expect(await leftovers(out)).toEqual([]);
  });

  test('flipped byte in a gzip member not named by digest', async () => {
    const h = await handArchive('gzip');
    await flipByte(join(h.root, h.layerName), 500);
    const image = await readDockerArchive(await h.pack());
    const [layer] = await image.layers();
    await expect(layer!.digest()).rejects.toThrow(PdError);
    const out = await tempDir();
    await expect(writeDockerArchive(join(out, 'x.tar'), [{ image, tags: ['x:1'] }])).rejects.toThrow(PdError);
    expect(await leftovers(out)).toEqual([]);
  });

  test('a gzip member is hashed once and checked against the diffID', async () => {
    const h = await handArchive('gzip');
    const image = await readDockerArchive(await h.pack());
    const [layer] = await image.layers();
    expect(await layer!.digest()).toBe(h.layer.digest);
    expect(await layer!.mediaType()).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(sha256(await streamToBuffer(await layer!.compressed()))).toBe(h.layer.digest);
  });

  test('flipped byte in a config named by its digest', async () => {
    const h = await handArchive();
    await flipByte(join(h.root, h.configName), 5);
    const image = await readDockerArchive(await h.pack());
    await expect(image.rawConfig()).rejects.toThrow(DigestMismatchError);
  });

  test('manifest.json that is not JSON, or disagrees with the config', async () => {
    const h = await handArchive();
    await writeFile(join(h.root, 'manifest.json'), '[{"Config": ');
    await expect(readDockerArchive(await h.pack())).rejects.toThrow(ValidationError);
    await writeManifest(h, { Config: h.configName, RepoTags: null, Layers: [h.layerName, h.layerName] });
    const image = await readDockerArchive(await h.pack());
    await expect(image.layers()).rejects.toThrow(/lists 2 layers, its config 1 diff_ids/);
  });

  test('unknown layouts and compressed archives', async () => {
    const h = await handArchive();
    await rm(join(h.root, 'manifest.json'));
    const noManifest = await h.pack();
    expect(await sniffFormat(noManifest)).toBeUndefined();
    await expect(readDockerArchive(noManifest)).rejects.toThrow(ArchiveFormatError);
    await writeFile(join(h.root, 'repositories'), '{}');
    await expect(readDockerArchive(await h.pack())).rejects.toThrow(/legacy docker archive/);

    const ok = await handArchive();
    const archive = await ok.pack();
    await run('gzip', ['-k', archive]);
    expect(await sniffFormat(`${archive}.gz`)).toBeUndefined();
    const err = await readDockerArchive(`${archive}.gz`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompressedArchiveError);
    expect((err as PdError).hint).toMatch(/gunzip -k/);
    expect(await sniffFormat(join(ok.root, 'does-not-exist'))).toBeUndefined();
    expect(await sniffFormat(ok.root)).toBeUndefined(); // a directory without oci-layout
  });
});

describe.skipIf(gnuTarMissing())('lying images given to the writers', () => {
  async function lyingImage(content = 'a\n'.repeat(5000)): Promise<{ image: Image; layer: LayerFile }> {
    const layer = await makeLayer({ 'a.txt': content });
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      }),
    );
    const image = simpleImage(
      config,
      [fileLayer(layer)],
      [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
    );
    return { image, layer };
  }

  test('a layer whose bytes do not match its digest (the Layer does not verify): nothing written', async () => {
    const { image, layer } = await lyingImage();
    await flipByte(layer.path, 100);
    const out = await tempDir();
    for (const write of [
      () => writeDockerArchive(join(out, 'c.tar'), [{ image, tags: ['l:1'] }], { layout: 'classic' }),
      () => writeDockerArchive(join(out, 'd.tar'), [{ image, tags: ['l:1'] }], { layout: 'combined' }),
      () => writeOciArchive(join(out, 'o.tar'), image),
      () => writeOciLayout(join(out, 'layout'), image),
    ]) {
      await expect(write()).rejects.toThrow(DigestMismatchError);
    }
    expect((await leftovers(out)).filter((f) => !f.startsWith('layout'))).toEqual([]);
  });

  test('a layer file longer than its size: SizeMismatchError', async () => {
    const { image, layer } = await lyingImage();
    await writeFile(layer.path, Buffer.concat([await readFile(layer.path), Buffer.from('extra')]));
    const out = await tempDir();
    await expect(writeDockerArchive(join(out, 'x.tar'), [{ image, tags: ['l:1'] }])).rejects.toThrow(
      SizeMismatchError,
    );
    expect(await leftovers(out)).toEqual([]);
  });

  test('layers disagreeing with the manifest: InconsistentImageError before any byte', async () => {
    const { image, layer } = await lyingImage();
    const other = await makeLayer({ 'b.txt': 'b\n' });
    const liar: Image = { ...image, layers: async () => [fileLayer(other)] };
    const out = await tempDir();
    await expect(writeOciArchive(join(out, 'x.tar'), liar)).rejects.toThrow(InconsistentImageError);
    const wrongConfig: Image = { ...image, rawConfig: async () => Buffer.from('{}') };
    await expect(writeDockerArchive(join(out, 'y.tar'), [{ image: wrongConfig, tags: [] }])).rejects.toThrow(
      InconsistentImageError,
    );
    expect(await leftovers(out)).toEqual([]);
    expect((await stat(layer.path)).size).toBe(layer.size);
  });

  test('an aborted write leaves nothing', async () => {
    const { image } = await lyingImage();
    const out = await tempDir();
    const controller = new AbortController();
    controller.abort();
    await expect(
      writeDockerArchive(join(out, 'x.tar'), [{ image, tags: ['l:1'] }], { signal: controller.signal }),
    ).rejects.toThrow(/abort/i);
    expect(await leftovers(out)).toEqual([]);
  });

  test('tags that cannot name an image in a docker archive', async () => {
    const { image } = await lyingImage();
    const out = await tempDir();
    await expect(
      writeDockerArchive(join(out, 'x.tar'), [{ image, tags: [`l@sha256:${'a'.repeat(64)}`] }]),
    ).rejects.toThrow(/by tag, not by digest/);
    const other = await lyingImage('other\n');
    await expect(
      writeDockerArchive(join(out, 'x.tar'), [
        { image, tags: ['same:1'] },
        { image: other.image, tags: ['same:1'] },
      ]),
    ).rejects.toThrow(/two different images/);
    expect(await leftovers(out)).toEqual([]);
  });
});

describe.skipIf(gnuTarMissing())('damaged OCI layouts', () => {
  async function layout(): Promise<{ dir: string; image: Image; layer: LayerFile }> {
    const layer = await makeLayer({ 'a.txt': 'layout\n'.repeat(1000) });
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      }),
    );
    const image = simpleImage(
      config,
      [fileLayer(layer)],
      [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
    );
    const dir = join(await tempDir(), 'layout');
    await writeOciLayout(dir, image, { tag: 'v1' });
    return { dir, image, layer };
  }

  test('a missing blob, a corrupt layer blob, a manifest of the wrong size', async () => {
    const a = await layout();
    await rm(join(a.dir, 'blobs', 'sha256', a.layer.digest.slice(7)));
    const img = (await readOciLayout(a.dir, { ref: 'v1' })) as Image;
    const [l] = await img.layers();
    await expect(l!.compressed()).rejects.toThrow(MissingMemberError);

    const b = await layout();
    await flipByte(join(b.dir, 'blobs', 'sha256', b.layer.digest.slice(7)), 300);
    const imgB = (await readOciLayout(b.dir, { ref: 'v1' })) as Image;
    const [lb] = await imgB.layers();
    await expect(streamToBuffer(await lb!.compressed())).rejects.toThrow(DigestMismatchError);
    await expect(writeOciLayout(join(await tempDir(), 'copy'), imgB)).rejects.toThrow(DigestMismatchError);

    const c = await layout();
    const index = JSON.parse((await readFile(join(c.dir, 'index.json'))).toString());
    index.manifests[0].size += 1;
    await writeFile(join(c.dir, 'index.json'), JSON.stringify(index));
    const imgC = (await readOciLayout(c.dir)) as Image;
    await expect(imgC.manifest()).rejects.toThrow(SizeMismatchError);
  });

  test('unsupported layout version', async () => {
    const a = await layout();
    await writeFile(join(a.dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await expect(readOciLayout(a.dir)).rejects.toThrow(/unsupported image layout version 2.0.0/);
    await expect(writeOciLayout(a.dir, a.image)).rejects.toThrow(/unsupported image layout version/);
  });
});
