import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { appendLayers, BlobCache, getImageRunner, layerFromTarball, Image as SeedImage } from '@pd/image';
import { crunMissing, docker, dockerHost, type Fixtures, gnuTar, runc } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ImageNotLocalError,
  LayerStore,
  listContainers,
  prepareBundle,
  pruneLayers,
  RuntimeNotFoundError,
  removeContainer,
} from '../src/index.js';
import {
  dockerRun,
  dockerSkip,
  freshCacheDir,
  normaliseHostname,
  pdRun,
  sharedFixtures,
  stopFixtures,
} from './helpers/harness.js';
import { savedArchive, savedImage } from './helpers/saved-image.js';

const skip = dockerSkip();

describe.skipIf(skip)('run: caching, sources, runtimes', () => {
  let fx: Fixtures;
  let cacheDir: string;

  beforeAll(async () => {
    fx = await sharedFixtures();
    cacheDir = freshCacheDir();
  }, 900_000);
  afterAll(async () => {
    await stopFixtures();
    await rm(cacheDir, { recursive: true, force: true });
  });

  test('a second run of the same image unpacks nothing', async () => {
    const image = await savedImage(fx.layered.local);
    const layers = (await image.layers()).length;
    const first = await pdRun(image, { cacheDir, args: ['true'] });
    expect(first.events.filter((e) => e.kind === 'unpack')).toHaveLength(layers);
    const second = await pdRun(image, { cacheDir, args: ['true'] });
    expect(second.events.filter((e) => e.kind === 'unpack')).toHaveLength(0);
    expect(second.events.filter((e) => e.kind === 'cached')).toHaveLength(layers);
  });

  test('a reference is pulled once; later runs resolve it without the registry (pull: missing / never)', async () => {
    const first = await pdRun(fx.small.ref, { cacheDir, args: ['cat', '/hello.txt'] });
    expect(first.stdout).toBe(fx.small.files['/hello.txt']);
    expect(first.events.find((e) => e.kind === 'resolve')).toMatchObject({ source: 'registry' });
    const again = await pdRun(fx.small.ref, { cacheDir, args: ['cat', '/hello.txt'], pull: 'never' });
    expect(again.stdout).toBe(fx.small.files['/hello.txt']);
    expect(again.events.find((e) => e.kind === 'resolve')).toMatchObject({ source: 'local' });
    expect(again.events.filter((e) => e.kind === 'unpack')).toHaveLength(0);
    const always = await pdRun(fx.small.ref, { cacheDir, args: ['true'], pull: 'always' });
    expect(always.events.find((e) => e.kind === 'resolve')).toMatchObject({ source: 'registry' });
    await expect(
      pdRun(`${fx.small.registry}/fixtures/never-pulled:latest`, { cacheDir, pull: 'never' }),
    ).rejects.toBeInstanceOf(ImageNotLocalError);
  });

  test('a docker-archive path is an image input', async () => {
    const r = await pdRun(await savedArchive(fx.small.local), { cacheDir });
    expect(r.stdout).toBe(fx.small.files['/hello.txt']);
  });

  test('EditableImage.run (registered by importing the runner)', async () => {
    // The runner filled @pd/image's slot without importing @pd/image: its getImageRunner sees it.
    expect(getImageRunner()).toBeTypeOf('function');
    const img = await SeedImage.fromFile(await savedArchive(fx.small.local));
    img.setEnv('FROM_SEED', 'yes');
    const chunks: Buffer[] = [];
    const stdout = new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    });
    const r = await img.run(['sh', '-c', 'echo $FROM_SEED; exit 3'], {
      cacheDir,
      stdout,
      forwardSignals: false,
    });
    expect(r.exitCode).toBe(3);
    expect(Buffer.concat(chunks).toString()).toBe('yes\n');
  });

  test('prepareBundle writes a bundle that runc itself runs', async () => {
    const bundle = await prepareBundle(await savedImage(fx.small.local), {
      cacheDir,
      name: 'pd-test-bundle',
      args: ['cat', '/hello.txt'],
    });
    try {
      expect(JSON.parse(readFileSync(join(bundle.dir, 'config.json'), 'utf8'))).toEqual(bundle.spec);
      expect(bundle.mounted).toBe(bundle.rootfs.mode === 'overlay');
      const { stdout } = await runc([
        '--root',
        join(cacheDir, 'runc-state'),
        'run',
        '--bundle',
        bundle.dir,
        'pd-test-bundle',
      ]);
      expect(stdout).toBe(fx.small.files['/hello.txt']);
    } finally {
      await removeContainer('pd-test-bundle', { cacheDir });
    }
    expect(existsSync(bundle.dir)).toBe(false);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(bundle.dir);
  });

  test('pruning keeps the layers of kept containers', async () => {
    const image = await savedImage(fx.small.local);
    await pdRun(image, { cacheDir, rm: false, name: 'pd-test-prune', args: ['true'] });
    const used = (await image.layers()).length;
    await pruneLayers({ cacheDir });
    const left = await new LayerStore({ cacheDir }).list();
    expect(left).toHaveLength(used);
    expect((await listContainers({ cacheDir })).map((c) => c.id)).toContain('pd-test-prune');
    await removeContainer('pd-test-prune', { cacheDir });
    await pruneLayers({ cacheDir });
    expect(await new LayerStore({ cacheDir }).list()).toHaveLength(0);
  });

  test('aborting stops the container: SIGTERM first, SIGKILL after stopTimeout', async () => {
    const image = await savedImage(fx.small.local);
    const trapped = new AbortController();
    setTimeout(() => trapped.abort(), 1000);
    const r1 = await pdRun(image, {
      cacheDir,
      signal: trapped.signal,
      args: ['sh', '-c', 'trap "exit 42" TERM; while :; do sleep 0.1; done'],
    });
    expect(r1.exitCode).toBe(42);
    const ignoring = new AbortController();
    setTimeout(() => ignoring.abort(), 1000);
    const t0 = Date.now();
    const r2 = await pdRun(image, {
      cacheDir,
      signal: ignoring.signal,
      stopTimeout: 1,
      args: ['sleep', '1000'],
    });
    expect(r2).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  test('an unknown runtime fails at once with an install hint', async () => {
    const err = await pdRun(await savedImage(fx.small.local), { cacheDir, runtime: 'no-such-runtime' }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(RuntimeNotFoundError);
  });

  describe.skipIf(crunMissing())('with crun', () => {
    test('env, id and exit codes match docker (cgroup v1 hybrid hosts handled)', async () => {
      const image = await savedImage(fx.withUser.local);
      const r = await pdRun(image, { cacheDir, runtime: 'crun', args: ['sh', '-c', 'env; id; exit 9'] });
      const d = await dockerRun(fx.withUser.local, ['sh', '-c', 'env; id; exit 9']);
      expect(r.exitCode).toBe(9);
      expect(normaliseHostname(r.stdout)).toBe(normaliseHostname(d.stdout));
    });
    test('a missing command is reported like docker (127)', async () => {
      await expect(
        pdRun(await savedImage(fx.small.local), { cacheDir, runtime: 'crun', args: ['nope'] }),
      ).rejects.toMatchObject({
        exitCode: 127,
      });
    });
  });

  describe('with docker', () => {
    test('the same flags, through the engine; loading is skipped when the engine has the image', async () => {
      const image = await savedImage(fx.withUser.local);
      const flags = { env: ['X=1'], user: 'app:staff', workdir: '/tmp' };
      const viaDocker = await pdRun(image, {
        cacheDir,
        runtime: 'docker',
        dockerHost: dockerHost()!,
        args: ['sh', '-c', 'id; pwd; echo $X'],
        ...flags,
      });
      expect(viaDocker.events.find((e) => e.kind === 'docker')).toMatchObject({ loaded: false });
      const native = await pdRun(image, { cacheDir, args: ['sh', '-c', 'id; pwd; echo $X'], ...flags });
      expect(viaDocker.stdout).toBe(native.stdout);
      expect(viaDocker.exitCode).toBe(0);
    });

    test('an image the engine lacks is loaded with only the layers it lacks', async () => {
      const base = await savedImage(fx.small.local);
      const tarDir = await mkdtemp(join(tmpdir(), 'pd-runner-docker-'));
      await mkdir(join(tarDir, 'src'));
      await writeFile(join(tarDir, 'src', 'added.txt'), `added ${Date.now()}\n`);
      await gnuTar(['-cf', join(tarDir, 'layer.tar'), '-C', join(tarDir, 'src'), 'added.txt']);
      const layer = await layerFromTarball(join(tarDir, 'layer.tar'), { cache: new BlobCache(cacheDir) });
      const image = await appendLayers(base, [layer]);
      const id = await image.configDigest();
      const host = dockerHost()!;
      try {
        const r = await pdRun(image, {
          cacheDir,
          runtime: 'docker',
          dockerHost: host,
          args: ['cat', '/added.txt', '/hello.txt'],
        });
        const total = (await image.layers()).length;
        expect(r.events.find((e) => e.kind === 'docker')).toMatchObject({
          loaded: true,
          message: expect.stringContaining(`(1 of ${total} layers sent)`),
        });
        expect(r.stdout).toBe(
          `${await readFile(join(tarDir, 'src', 'added.txt'), 'utf8')}${fx.small.files['/hello.txt']}`,
        );
        const again = await pdRun(image, { cacheDir, runtime: 'docker', dockerHost: host, args: ['true'] });
        expect(again.events.find((e) => e.kind === 'docker')).toMatchObject({ loaded: false });
      } finally {
        await docker(['image', 'rm', '--force', id]).catch(() => undefined);
        await rm(tarDir, { recursive: true, force: true });
      }
    });
  });
});
