import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MediaType } from '@pd/oci-types';
import { docker } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BlobCache } from '../src/cache.js';
import { NoSuchImageFileError, RunnerMissingError, UnknownImageSourceError } from '../src/errors.js';
import { verifiesItself } from '../src/formats/verified-stream.js';
import { layerFromTarball } from '../src/layers/built.js';
import { openImage } from '../src/open.js';
import { type ImageRunOptions, setImageRunner } from '../src/runner.js';
import { type EditableImage, Image } from '../src/seed.js';
import { type Env, fixturesMissing, startEnv, tarFiles } from './helpers.js';

describe.skipIf(fixturesMissing())('the seed API', () => {
  let env: Env;
  let work: string;
  beforeAll(async () => {
    env = await startEnv();
    work = mkdtempSync(join(tmpdir(), 'pd-seed-'));
    mkdirSync(join(work, 'app', 'lib'), { recursive: true });
    writeFileSync(join(work, 'app', 'main.js'), 'console.log(1)\n');
    writeFileSync(join(work, 'app', 'lib', 'util.js'), 'export {}\n');
    writeFileSync(join(work, 'notes.txt'), 'a file\n');
  });
  afterAll(async () => {
    rmSync(work, { recursive: true, force: true });
    await env?.stop();
  });

  /** The same recipe, in a fresh cache each time, so nothing but the inputs is shared. */
  async function build(): Promise<EditableImage> {
    process.env.PD_CACHE_DIR = mkdtempSync(join(work, 'cache-'));
    const img = await Image.pull(env.fixtures.small.ref, { client: env.client });
    await img.addLayerPath(join(work, 'app'), { dest: '/srv/app' });
    await img.addLayerContents({ '/etc/motd': 'hi\n' });
    img.setEnv('MODE', 'prod');
    return img;
  }

  test('SOURCE_DATE_EPOCH: the same inputs give the same digest; another epoch another one', async () => {
    const saved = { epoch: process.env.SOURCE_DATE_EPOCH, cache: process.env.PD_CACHE_DIR };
    try {
      process.env.SOURCE_DATE_EPOCH = '1700000000';
      const [a, b] = [await build(), await build()];
      expect(await a.digest()).toBe(await b.digest());
      expect(await a.rawConfig()).toEqual(await b.rawConfig());
      const config = await a.config();
      expect(config.created).toBe('2023-11-14T22:13:20Z');
      expect(config.history?.slice(-2).map((h) => h.created)).toEqual([
        '2023-11-14T22:13:20Z',
        '2023-11-14T22:13:20Z',
      ]);
      const flat = [await (await build()).flatten(), await (await build()).flatten()];
      expect(await flat[0]!.digest()).toBe(await flat[1]!.digest());

      const scratch = async () =>
        (await Image.scratch({ platform: 'linux/amd64' })).addLayerContents({ '/x': 'x' });
      expect(await (await scratch()).digest()).toBe(await (await scratch()).digest());

      process.env.SOURCE_DATE_EPOCH = '1700000001';
      expect(await (await build()).digest()).not.toBe(await a.digest());
    } finally {
      if (saved.epoch === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved.epoch;
      process.env.PD_CACHE_DIR = saved.cache;
    }
  });

  test('an unchanged EditableImage is its source; changes make it a new image', async () => {
    const img = await Image.pull(env.fixtures.small.ref, { client: env.client });
    expect(await img.digest()).toBe(env.fixtures.small.digest);
    expect(img.location).toEqual({ registry: env.registry.host, repository: 'fixtures/small' });
    const before = img.snapshot();
    img.setEnv('X', '1');
    expect(img.location).toBeUndefined();
    expect(await img.digest()).not.toBe(env.fixtures.small.digest);
    expect(await before.digest()).toBe(env.fixtures.small.digest);
    img.tag('v9');
    expect(img.name).toBe(`${env.registry.host}/fixtures/small:v9`);
    img.tag('localhost:5000/other:1');
    expect(img.name).toBe('localhost:5000/other:1');
    img.convert('oci');
    expect(await img.mediaType()).toBe(MediaType.OciManifest);
  });

  test('addLayerPath: a directory goes under dest, a file lands at dest (or in a dest/ directory)', async () => {
    const img = await Image.scratch();
    await img.addLayerPath(join(work, 'app'), {
      dest: '/opt/app',
      filter: (h) => !h.name.endsWith('util.js'),
    });
    await img.addLayerPath(join(work, 'notes.txt'));
    await img.addLayerPath(join(work, 'notes.txt'), { dest: '/docs/' });
    await img.addLayerPaths([
      { src: join(work, 'notes.txt'), dest: '/a/renamed.txt' },
      { src: join(work, 'app', 'lib'), dest: '/b' },
    ]);
    const layers = await img.layers();
    const files = await Promise.all(
      layers.map(async (l) => [...(await tarFiles(await l.uncompressed())).keys()]),
    );
    expect(files).toEqual([
      ['/opt/app/main.js'],
      ['/notes.txt'],
      ['/docs/notes.txt'],
      ['/a/renamed.txt', '/b/util.js'],
    ]);
    expect((await img.config()).history?.map((h) => h.created_by)).toEqual([
      'pd: add path(s) at /opt/app',
      'pd: add path(s) at /notes.txt',
      'pd: add path(s) at /docs/notes.txt',
      'pd: add path(s) at /a/renamed.txt /b',
    ]);
  });

  test('run goes through the registered runner, and says what to do without one', async () => {
    const img = await Image.pull(env.fixtures.small.ref, { client: env.client });
    img.setEnv('A', 'b');
    await expect(img.run(['true'])).rejects.toBeInstanceOf(RunnerMissingError);
    await expect(img.run(['true'])).rejects.toMatchObject({ hint: expect.stringContaining('@pd/runner') });
    const calls: Array<{ digest: string; options: ImageRunOptions }> = [];
    setImageRunner(async (image, options) => {
      calls.push({ digest: await image.digest(), options });
      return { exitCode: 3 };
    });
    try {
      expect(await img.run('echo hi', { tty: false })).toEqual({ exitCode: 3 });
      expect(calls).toEqual([
        { digest: await img.digest(), options: { tty: false, cmd: ['/bin/sh', '-c', 'echo hi'] } },
      ]);
    } finally {
      setImageRunner(undefined);
    }
  });

  test('openImage and Image.fromFile: an existing path is a file format, anything else a reference', async () => {
    const fx = env.fixtures.small;
    const tar = join(work, 'small.tar');
    await docker(['save', '-o', tar, fx.local]);
    const fromTar = await openImage(tar);
    expect(await fromTar.configDigest()).toBe(fx.configDigest);
    expect((await fromTar.config()).rootfs.diff_ids).toEqual(fx.layers.map((l) => l.diffId));
    const edit = await Image.fromFile(tar, { tag: 'pd-fixtures/small:latest' });
    expect(edit.name).toBe('docker.io/pd-fixtures/small:latest');
    expect((await tarFiles(await (await edit.layers())[1]!.uncompressed())).get('/hello.txt')).toBe(
      fx.files['/hello.txt'],
    );

    const fromRef = await openImage(fx.ref, { client: env.client });
    expect(await fromRef.digest()).toBe(fx.digest);
    const all = await openImage(env.fixtures.multiArch.index.ref, { platform: 'all', client: env.client });
    expect(all.kind).toBe('index');
    // A path (here with a selector) that does not exist is said so, not looked up in a registry.
    await expect(openImage('/no/such/Path:here')).rejects.toThrow(new NoSuchImageFileError('/no/such/Path'));
    await expect(openImage(join(work, 'app'))).rejects.toBeInstanceOf(UnknownImageSourceError);
    // A file that is no archive: the archive reader's own error says what is wrong with it.
    writeFileSync(join(work, 'small.tar.gz'), gzipSync(readFileSync(tar)));
    await expect(openImage(join(work, 'small.tar.gz'))).rejects.toMatchObject({ code: 'ARCHIVE_COMPRESSED' });
  });

  test('layerFromTarball: a gzip file is the blob as it is; a plain tar gets compressed', async () => {
    const cache = new BlobCache(join(work, 'tarballs'));
    const plain = join(work, 'plain.tar');
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-C', join(work, 'app'), '-cf', plain, '.']);
    const gz = join(work, 'layer.tar.gz');
    writeFileSync(gz, gzipSync(readFileSync(plain)));
    const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

    const a = await layerFromTarball(gz, { cache });
    expect(verifiesItself(a)).toBe(true); // read from the cache, which verifies: sinks skip a second hash
    expect(await a.digest()).toBe(sha(readFileSync(gz)));
    expect(await a.diffId()).toBe(sha(readFileSync(plain)));
    expect(await a.mediaType()).toBe(MediaType.OciLayerGzip);
    const b = await layerFromTarball(plain, { cache });
    expect(await b.diffId()).toBe(sha(readFileSync(plain)));
    expect(await b.digest()).not.toBe(await b.diffId());
    const c = await layerFromTarball(plain, { cache, compression: 'none' });
    expect(await c.digest()).toBe(sha(readFileSync(plain)));
    expect([...(await tarFiles(await b.uncompressed())).keys()].sort()).toEqual(['/lib/util.js', '/main.js']);
  });
});
