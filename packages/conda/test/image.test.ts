import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Image, layerFromTarball, scratch, writeDockerArchive } from '@pd/image';
import {
  buildCondaChannel,
  buildCondaPackage,
  busyboxMissing,
  busyboxRootfsTar,
  CONDA_BINARY_PLACEHOLDER,
  CONDA_TEXT_PLACEHOLDER,
  condaBenchPackages,
  condaPathExists,
  condaToolsMissing,
  docker,
  dockerMissing,
  serveCondaChannel,
  writeRepodata,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildCondaImage,
  condaLayers,
  extractPackage,
  linkPackage,
  PackageCache,
  PackageChecksumError,
  PipNotSupportedError,
  readEnvironmentYml,
  solve,
} from '../src/index.js';
import { type Env, fixtureEnv } from './helpers.js';

const missing = condaToolsMissing();

async function layerDigests(image: Image): Promise<string[]> {
  return Promise.all((await image.layers()).map((l) => l.digest()));
}

/** Paths of a layer tar, as GNU tar lists them. */
async function layerPaths(image: Image, index: number, dir: string): Promise<string[]> {
  const layer = (await image.layers())[index]!;
  const file = join(dir, `layer-${index}.tar`);
  const chunks: Buffer[] = [];
  for await (const c of await layer.uncompressed()) chunks.push(c as Buffer);
  await writeFile(file, Buffer.concat(chunks));
  return execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
}

describe.skipIf(missing)('extract and link', () => {
  let env: Env;
  beforeAll(async () => {
    env = await fixtureEnv();
  });
  afterAll(async () => env?.cleanup());

  async function fetched(specs: string[], cacheName: string) {
    const cacheDir = env.cacheDir(cacheName);
    const s = await solve(specs, { channels: [env.channel.url], cacheDir });
    const cache = new PackageCache(join(cacheDir, 'pkgs'));
    return { s, cache, cacheDir };
  }

  it('extracts .tar.bz2 and .conda packages', async () => {
    const out = join(env.root, 'extract');
    for (const nv of ['hello-1.0', 'hello-2.0']) {
      const p = env.channel.get(nv);
      const dir = await extractPackage(p.path, join(out, nv));
      const index = JSON.parse(await readFile(join(dir, 'info', 'index.json'), 'utf8'));
      expect(index).toMatchObject({ name: 'hello', version: nv.slice(6) });
      expect(await readFile(join(dir, 'share', 'hello', 'VERSION'), 'utf8')).toBe(`${nv.slice(6)}\n`);
      const script = await readFile(join(dir, 'bin', 'hello'), 'utf8');
      expect(script.startsWith(`#!${CONDA_TEXT_PLACEHOLDER}/bin/sh\n`)).toBe(true);
      expect((await lstat(join(dir, 'bin', 'hello'))).mode & 0o777).toBe(0o755);
    }
    const sh = await extractPackage(env.channel.get('sh-1.0').path, join(out, 'sh'));
    expect(await readlink(join(sh, 'bin', 'sh'))).toBe('/bin/sh');
  });

  it('refuses a file that is not a package', async () => {
    const bogus = join(env.root, 'bogus.conda');
    await writeFile(bogus, 'not a zip at all');
    await expect(extractPackage(bogus, join(env.root, 'bogus'))).rejects.toThrow(/not a zip file/);
    expect(await condaPathExists(join(env.root, 'bogus'))).toBe(false);
  });

  it('rewrites text and binary prefix placeholders', async () => {
    const { s, cache } = await fetched(['hello', 'binpkg'], 'link-1');
    const staging = join(env.root, 'link-1');
    for (const p of s.packages) {
      const archive = await cache.fetch(p);
      const dir = await extractPackage(archive, join(env.root, 'x-1', p.name));
      await linkPackage(dir, p, join(staging, p.name), { prefix: '/opt/conda' });
    }
    const hello = await readFile(join(staging, 'hello', 'bin', 'hello'), 'utf8');
    expect(hello).toBe('#!/opt/conda/bin/sh\necho "hello 2.0 from /opt/conda"\necho "prefix of $0"\n');
    expect((await lstat(join(staging, 'hello', 'bin', 'hello'))).mode & 0o777).toBe(0o755);

    const original = await readFile(join(env.root, 'x-1', 'binpkg', 'lib', 'libbin.so'));
    const linked = await readFile(join(staging, 'binpkg', 'lib', 'libbin.so'));
    expect(linked.length).toBe(original.length);
    expect(linked.includes(Buffer.from(CONDA_BINARY_PLACEHOLDER))).toBe(false);
    // Each C string keeps its offset; the shorter prefix is padded with NULs up to the old terminator.
    const first = original.indexOf(Buffer.from(CONDA_BINARY_PLACEHOLDER));
    const libString = Buffer.from('/opt/conda/lib');
    expect(linked.subarray(first, first + libString.length)).toEqual(libString);
    const end = original.indexOf(0, first);
    expect(linked.subarray(first + libString.length, end + 1).every((b) => b === 0)).toBe(true);
    expect(linked.indexOf(Buffer.from('between\0'))).toBe(original.indexOf(Buffer.from('between\0')));
    expect(linked.includes(Buffer.from('prefix=/opt/conda:/opt/conda/share\0'))).toBe(true);
    expect(linked.subarray(linked.length - 16).every((b) => b === 0xab)).toBe(true);

    const meta = JSON.parse(
      await readFile(join(staging, 'binpkg', 'conda-meta', 'binpkg-1.0-h0000000_0.json'), 'utf8'),
    );
    const so = meta.paths_data.paths.find((x: { _path: string }) => x._path === 'lib/libbin.so');
    expect(so).toMatchObject({
      file_mode: 'binary',
      prefix_placeholder: CONDA_BINARY_PLACEHOLDER,
      path_type: 'hardlink',
    });
    expect(so.sha256_in_prefix).not.toBe(so.sha256);
  });

  it('places noarch python packages, writes entry points, skips bytecode, and records conda-meta', async () => {
    const { s, cache } = await fetched(['greet', 'legacy', 'withscript'], 'link-2');
    const staging = join(env.root, 'link-2');
    const results = [];
    for (const p of s.packages) {
      const dir = await extractPackage(await cache.fetch(p), join(env.root, 'x-2', p.name));
      results.push(
        await linkPackage(dir, p, staging, { pythonVersion: '3.12.1', exclude: (x) => x.endsWith('.a') }),
      );
    }
    const site = join(staging, 'lib', 'python3.12', 'site-packages');
    expect(await readFile(join(site, 'greet', '__init__.py'), 'utf8')).toContain('greetings');
    expect(await condaPathExists(join(site, 'greet', '__pycache__'))).toBe(false);
    expect(await readFile(join(staging, 'bin', 'greet-legacy'), 'utf8')).toContain('legacy script');
    const ep = await readFile(join(staging, 'bin', 'greet'), 'utf8');
    expect(ep.split('\n')[0]).toBe('#!/opt/conda/bin/python');
    expect(ep).toContain('from greet import main');
    expect(ep).toContain('sys.exit(main())');
    expect((await lstat(join(staging, 'bin', 'greet-loud'))).mode & 0o777).toBe(0o755);
    expect(await readFile(join(staging, 'bin', 'greet-loud'), 'utf8')).toContain(
      'from greet.cli import shout',
    );

    expect(await readFile(join(staging, 'etc', 'legacy.conf'), 'utf8')).toBe('root=/opt/conda\n');

    const metaFiles = (await readdir(join(staging, 'conda-meta'))).sort();
    expect(metaFiles).toEqual([
      'greet-0.1-pyh0000000_0.json',
      'legacy-1.0-h0000000_0.json',
      'python-3.12.1-h0000000_0.json',
      'sh-1.0-h0000000_0.json',
      'withscript-1.0-h0000000_0.json',
    ]);
    const greet = JSON.parse(
      await readFile(join(staging, 'conda-meta', 'greet-0.1-pyh0000000_0.json'), 'utf8'),
    );
    const built = env.channel.get('greet-0.1');
    expect(greet).toMatchObject({
      name: 'greet',
      version: '0.1',
      build: 'pyh0000000_0',
      build_number: 0,
      channel: `${env.channel.url}/noarch`,
      subdir: 'noarch',
      fn: 'greet-0.1-pyh0000000_0.tar.bz2',
      url: `${env.channel.url}/noarch/greet-0.1-pyh0000000_0.tar.bz2`,
      sha256: built.sha256,
      md5: built.md5,
      size: built.size,
      depends: ['python >=3.8'],
      noarch: 'python',
      requested_spec: 'greet',
      link: { source: '/opt/conda/pkgs/greet-0.1-pyh0000000_0', type: 1 },
    });
    expect(greet.files).toEqual([
      'bin/greet',
      'bin/greet-legacy',
      'bin/greet-loud',
      'lib/python3.12/site-packages/greet-0.1.dist-info/METADATA',
      'lib/python3.12/site-packages/greet/__init__.py',
    ]);
    expect(greet.paths_data.paths_version).toBe(1);
    expect(greet.paths_data.paths.find((x: { _path: string }) => x._path === 'bin/greet').path_type).toBe(
      'unix_python_entry_point',
    );
    const warnings = results.flatMap((r) => r.warnings);
    expect(warnings).toEqual([
      'withscript: has a post-link script (bin/.withscript-post-link.sh) that pd does not run',
    ]);
  });

  it('fails on a bad checksum and caches nothing', async () => {
    const { s, cache } = await fetched(['broken'], 'checksum');
    const p = s.packages[0]!;
    const err = await cache.fetch(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageChecksumError);
    expect((err as PackageChecksumError).message).toMatch(
      /^sha256 mismatch for conda package broken-1\.0-h0000000_0\.tar\.bz2: expected [0-9a-f]{64}, got [0-9a-f]{64}$/,
    );
    expect(await cache.has(p)).toBe(false);
    expect(await condaPathExists(cache.path(p))).toBe(false);
    expect(await readdir(join(cache.path(p), '..'))).toEqual([]);
  });

  it('refuses pip sections of environment.yml', async () => {
    const yml =
      'name: x\nchannels: [conda-forge]\ndependencies:\n  - python=3.12\n  - pip\n  - pip:\n      - requests==2.31\n';
    const err = await readEnvironmentYml('environment.yml', yml).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipNotSupportedError);
    expect((err as PipNotSupportedError).message).toBe('pip dependencies are not supported: requests==2.31');
    expect((err as PipNotSupportedError).hint).toMatch(/conda packages only/);
  });
});

describe.skipIf(missing)('images', () => {
  let env: Env;
  beforeAll(async () => {
    env = await fixtureEnv();
  });
  afterAll(async () => env?.cleanup());

  it('puts each package in its own layer, dependencies first, and a small meta layer last', async () => {
    const cacheDir = env.cacheDir('layers-1');
    const logs: string[] = [];
    const image = await buildCondaImage(
      scratch({ platform: 'linux/amd64' }),
      { specs: ['a', 'withscript'], channels: [env.channel.url] },
      { cacheDir, onLog: (m) => logs.push(m) },
    );
    const layers = await image.layers();
    expect(image.conda.packages.map((p) => p.name)).toEqual(['c', 'withscript', 'b', 'a']);
    expect(layers.length).toBe(5);
    expect(image.conda.warnings).toEqual([
      'withscript: has a post-link script (bin/.withscript-post-link.sh) that pd does not run',
    ]);
    expect(logs).toContain(image.conda.warnings[0]);
    const dir = join(env.root, 'layers-1');
    await mkdir(dir, { recursive: true });
    expect(await layerPaths(image, 0, dir)).toEqual([
      'opt/',
      'opt/conda/',
      'opt/conda/conda-meta/',
      'opt/conda/conda-meta/c-1.1-h0000000_0.json',
      'opt/conda/share/',
      'opt/conda/share/c.txt',
    ]);
    expect(await layerPaths(image, 4, dir)).toEqual([
      'opt/',
      'opt/conda/',
      'opt/conda/conda-meta/',
      'opt/conda/conda-meta/history',
    ]);
    const config = await image.config();
    expect(config.config?.Env).toEqual([
      'PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'CONDA_PREFIX=/opt/conda',
    ]);
    expect(config.config?.Labels).toMatchObject({
      'org.pd.conda.specs': 'a, withscript',
      'org.pd.conda.platform': 'linux-64',
      'org.pd.conda.channels': env.channel.url,
    });
    expect(config.created).toBe('1970-01-01T00:00:00Z');
    expect(config.history?.map((h) => h.created_by)).toEqual([
      'pd conda: c-1.1-h0000000_0',
      'pd conda: withscript-1.0-h0000000_0',
      'pd conda: b-2.5-h0000000_0',
      'pd conda: a-1.0-h0000000_0',
      'pd conda: conda-meta/history',
    ]);
  });

  it('adding a package changes no other layer, and a warm rebuild compresses only what changed', async () => {
    const cacheDir = env.cacheDir('layers-2');
    const base = scratch({ platform: 'linux/amd64' });
    const channels = [env.http.url];
    const one = await buildCondaImage(base, { specs: ['a', 'hello'], channels }, { cacheDir });
    expect(one.conda.stats).toEqual({ built: 6, reused: 0 });
    const again = await buildCondaImage(base, { specs: ['a', 'hello'], channels }, { cacheDir });
    expect(again.conda.stats).toEqual({ built: 0, reused: 6 });
    expect(await again.digest()).toBe(await one.digest());

    const two = await buildCondaImage(base, { specs: ['a', 'hello', 'binpkg'], channels }, { cacheDir });
    // binpkg's layer and the history layer are new; the five package layers are reused.
    expect(two.conda.stats).toEqual({ built: 2, reused: 5 });
    const before = await layerDigests(one);
    const after = await layerDigests(two);
    const byName = (img: typeof one, digests: string[]) =>
      Object.fromEntries(img.conda.packages.map((p, i) => [p.name, digests[i]]));
    const b1 = byName(one, before);
    const b2 = byName(two, after);
    for (const name of Object.keys(b1)) expect(b2[name]).toBe(b1[name]);
    expect(after.filter((d) => !before.includes(d)).length).toBe(2);
  });

  it('a new version of one package, same specs: exactly that one layer changes', async () => {
    const dir = join(env.root, 'bump-channel');
    const channel = await buildCondaChannel(dir, condaBenchPackages(6));
    const served = await serveCondaChannel(dir, 'bump');
    try {
      const input = { specs: ['bench-all'], channels: [served.url] };
      const opts = { cacheDir: env.cacheDir('bump') };
      const before = await buildCondaImage(scratch({ platform: 'linux/amd64' }), input, opts);
      const bumped = condaBenchPackages(6, { bumped: ['bench-03'] }).find(
        (p) => p.name === 'bench-03' && p.version === '1.1',
      )!;
      await writeRepodata(dir, [...channel.packages, await buildCondaPackage(dir, bumped)]);
      const after = await buildCondaImage(scratch({ platform: 'linux/amd64' }), input, opts);
      expect(after.conda.packages.find((p) => p.name === 'bench-03')?.version).toBe('1.1');
      expect(after.conda.stats.built).toBe(1);
      const old = await layerDigests(before);
      const changed = (await layerDigests(after)).filter((d) => !old.includes(d));
      expect(changed).toHaveLength(1);
    } finally {
      await served.stop();
    }
  });

  it('single layering puts the whole environment into one layer', async () => {
    const image = await buildCondaImage(
      scratch({ platform: 'linux/amd64' }),
      { specs: ['hello', 'binpkg'], channels: [env.channel.url] },
      { cacheDir: env.cacheDir('single'), layering: 'single', filter: false },
    );
    expect((await image.layers()).length).toBe(1);
    const dir = join(env.root, 'single');
    await mkdir(dir, { recursive: true });
    const paths = await layerPaths(image, 0, dir);
    expect(paths).toContain('opt/conda/bin/hello');
    expect(paths).toContain('opt/conda/lib/libbin.a'); // filter: false keeps static libraries
    expect(paths).toContain('opt/conda/conda-meta/history');
    expect(paths).toContain('opt/conda/conda-meta/hello-2.0-h0000000_0.json');
  });

  it('drops static libraries by default', async () => {
    const image = await buildCondaImage(
      scratch({ platform: 'linux/amd64' }),
      { specs: ['binpkg'], channels: [env.channel.url] },
      { cacheDir: env.cacheDir('filter') },
    );
    const dir = join(env.root, 'filter');
    await mkdir(dir, { recursive: true });
    const paths = await layerPaths(image, 0, dir);
    expect(paths).toContain('opt/conda/lib/libbin.so');
    expect(paths).not.toContain('opt/conda/lib/libbin.a');
  });

  it('builds from an explicit lockfile in its order', async () => {
    const lock = join(env.root, 'explicit.txt');
    const c = env.channel.get('c-1.0');
    const sh = env.channel.get('sh-1.0');
    const hello = env.channel.get('hello-1.0');
    await writeFile(
      lock,
      [
        '# This file may be used to create an environment using:',
        '@EXPLICIT',
        `${env.channel.url}/linux-64/${c.filename}#sha256:${c.sha256}`,
        `${env.channel.url}/linux-64/${sh.filename}#${sh.md5}`,
        `${env.channel.url}/linux-64/${hello.filename}#${hello.sha256}`,
        '',
      ].join('\n'),
    );
    const image = await buildCondaImage(
      scratch({ platform: 'linux/amd64' }),
      { lockfile: lock },
      {
        cacheDir: env.cacheDir('lock'),
      },
    );
    expect(image.conda.packages.map((p) => `${p.name}-${p.version}`)).toEqual([
      'c-1.0',
      'sh-1.0',
      'hello-1.0',
    ]);
    expect((await image.layers()).length).toBe(4);
  });

  it('builds from an environment.yml', async () => {
    const yml = join(env.root, 'environment.yml');
    await writeFile(
      yml,
      `name: demo\nchannels:\n  - ${env.channel.url}\ndependencies:\n  - hello=1.0\nvariables:\n  GREETING: hi\n`,
    );
    const image = await buildCondaImage(
      scratch({ platform: 'linux/amd64' }),
      { environmentYml: yml },
      {
        cacheDir: env.cacheDir('yml'),
      },
    );
    expect(image.conda.packages.map((p) => `${p.name}-${p.version}`)).toEqual(['sh-1.0', 'hello-1.0']);
    expect((await image.config()).config?.Env).toContain('GREETING=hi');
  });

  it('fails the build on a corrupt package', async () => {
    await expect(
      buildCondaImage(
        scratch(),
        { specs: ['hello', 'broken'], channels: [env.channel.url] },
        { cacheDir: env.cacheDir('corrupt') },
      ),
    ).rejects.toBeInstanceOf(PackageChecksumError);
  });

  it('condaLayers reuses layers across prefixes only when the prefix is the same', async () => {
    const cacheDir = env.cacheDir('prefix');
    const s = await solve(['hello'], { channels: [env.channel.url], cacheDir });
    const a = await condaLayers(s, { cacheDir, prefix: '/opt/conda' });
    const b = await condaLayers(s, { cacheDir, prefix: '/opt/env' });
    expect(b.stats.reused).toBe(0);
    const c = await condaLayers(s, { cacheDir, prefix: '/opt/conda' });
    expect(c.stats).toEqual({ built: 0, reused: 3 });
    expect(await Promise.all(c.layers.map((l) => l.layer.digest()))).toEqual(
      await Promise.all(a.layers.map((l) => l.layer.digest())),
    );
  });
});

describe.skipIf(missing || busyboxMissing() || dockerMissing())('running a built image in Docker', () => {
  let env: Env;
  beforeAll(async () => {
    env = await fixtureEnv();
  });
  afterAll(async () => env?.cleanup());

  it('runs the package scripts with the prefix rewritten', async () => {
    const rootfs = join(env.root, 'busybox.tar');
    await busyboxRootfsTar(rootfs);
    const { appendLayers } = await import('@pd/image');
    const base = await appendLayers(scratch({ platform: 'linux/amd64' }), [await layerFromTarball(rootfs)], {
      created: 0,
    });
    const image = await buildCondaImage(
      base,
      { specs: ['hello', 'greet'], channels: [env.http.url] },
      { cacheDir: env.cacheDir('docker') },
    );
    const archive = join(env.root, 'image.tar');
    const tag = 'pd-test/conda-hello:latest';
    await writeDockerArchive(archive, [{ image, tags: [tag] }]);
    await docker(['load', '-i', archive]);
    try {
      const hello = await docker(['run', '--rm', '--network', 'none', tag, 'hello']);
      expect(hello.stdout).toBe('hello 2.0 from /opt/conda\nprefix of /opt/conda/bin/hello\n');
      const greet = await docker(['run', '--rm', '--network', 'none', tag, 'greet', '--loud']);
      expect(greet.stdout).toBe('fake python /opt/conda/bin/greet --loud\n');
      const ls = await docker([
        'run',
        '--rm',
        '--network',
        'none',
        tag,
        'sh',
        '-c',
        'echo $CONDA_PREFIX; ls /opt/conda/conda-meta',
      ]);
      expect(ls.stdout.split('\n')).toEqual([
        '/opt/conda',
        'greet-0.1-pyh0000000_0.json',
        'hello-2.0-h0000000_0.json',
        'history',
        'python-3.12.1-h0000000_0.json',
        'sh-1.0-h0000000_0.json',
        '',
      ]);
    } finally {
      await docker(['image', 'rm', tag]).catch(() => undefined);
    }
  });
});
