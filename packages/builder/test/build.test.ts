import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  appendLayers,
  type Image,
  layerFromContents,
  layerFromPaths,
  scratch,
  writeDockerArchive,
  writeOciLayout,
} from '@pd/image';
import { ValidationError } from '@pd/oci-types';
import { buildCondaChannel, condaFixturePackages, condaToolsMissing } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImage,
  loadSpec,
  parseSpec,
  resolveSpecFile,
  SpecFileError,
  SpecInputError,
  specReference,
  validateSpec,
} from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const examples = join(here, '..', '..', '..', 'examples');

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pd-build-test-'));
  process.env.PD_CACHE_DIR = join(tmp, 'cache');
});
afterAll(async () => rm(tmp, { recursive: true, force: true }));

function problem(yaml: string): ValidationError {
  try {
    parseSpec(yaml);
  } catch (e) {
    if (e instanceof ValidationError) return e;
    throw e;
  }
  throw new Error('the spec was accepted');
}

describe('validation', () => {
  it('names the field that is wrong', () => {
    expect(problem('config:\n  ports: [8080, "http"]\n').message).toBe(
      'invalid pd.yaml: $.config.ports[1]: expected a port such as 8080 or "53/udp", got "http"',
    );
    expect(problem('layers:\n  - dest: /app\n').path).toBe('$.layers[0].src');
    expect(problem('layers:\n  - src: app\n    dest: app\n').path).toBe('$.layers[0].dest');
    expect(problem('files:\n  - path: /x\n    content: y\n    mode: "999"\n').path).toBe('$.files[0].mode');
    expect(problem('config:\n  entrypiont: [x]\n').message).toMatch(
      /^invalid pd\.yaml: \$\.config\.entrypiont: unknown field \(expected one of env, entrypoint, cmd/,
    );
    expect(problem('conda:\n  layering: flat\n  specs: [x]\n').path).toBe('$.conda.layering');
    expect(problem('conda:\n  channels: [conda-forge]\n').message).toBe(
      'invalid pd.yaml: $.conda: needs one of specs, environment or lockfile',
    );
    expect(problem('conda:\n  specs: [x]\n  environment: environment.yml\n').message).toContain(
      'give only one of specs, environment or lockfile (got specs and environment)',
    );
    expect(problem('conda:\n  environment: e.yml\n  channels: [x]\n').path).toBe('$.conda.channels');
    expect(problem('name: Not/Valid\n').path).toBe('$.name');
    expect(problem('- a list\n').message).toBe('invalid pd.yaml: $: expected an object, got an array');
  });

  it('accepts every documented field', () => {
    const spec = validateSpec({
      base: 'scratch',
      platform: 'linux/arm64',
      name: 'team/app',
      tag: '1.0',
      layers: [{ src: 'app', dest: '/app', exclude: ['*.log'] }],
      files: [{ path: '/etc/x', content: 'y', mode: 0o600 }],
      conda: {
        specs: ['python=3.12'],
        channels: ['conda-forge'],
        channelAlias: 'https://conda.anaconda.org/',
        platform: 'linux-aarch64',
        layering: 'single',
        prefix: '/opt/env',
        exclude: ['*.a'],
      },
      config: {
        env: { A: 'b', N: 1 },
        entrypoint: ['/bin/app'],
        cmd: 'serve',
        workdir: '/app',
        user: 'app',
        labels: { l: 'v' },
        ports: [80, '53/udp'],
        volumes: ['/data'],
        stopSignal: 'SIGINT',
      },
    });
    expect(specReference(spec)).toBe('team/app:1.0');
  });

  it('reports unreadable and unparsable files', async () => {
    await expect(loadSpec(join(tmp, 'missing.yaml'))).rejects.toBeInstanceOf(SpecFileError);
    expect(() => parseSpec('a: [')).toThrow(SpecFileError);
  });

  it('reads DIR/pd.yaml for a directory, and says what is missing without Node’s error text', async () => {
    expect(await resolveSpecFile(examples)).toBe(join(examples, 'pd.yaml'));
    expect(specReference(await loadSpec(examples))).toBe(
      specReference(await loadSpec(join(examples, 'pd.yaml'))),
    );
    const empty = await mkdtemp(join(tmp, 'empty-'));
    const none = await loadSpec(empty).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(SpecFileError);
    expect((none as SpecFileError).message).toBe(
      `cannot read ${join(empty, 'pd.yaml')}: no such file or directory`,
    );
    expect((none as SpecFileError).hint).toMatch(/holds no pd\.yaml: write one/);
    const missing = await loadSpec(join(tmp, 'missing.yaml')).catch((e: unknown) => e);
    expect((missing as SpecFileError).message).not.toMatch(/ENOENT|EISDIR/);
    expect((missing as SpecFileError).hint).not.toMatch(/mapping/);
  });
});

describe('inputs a pd.yaml names', () => {
  it('a layer of a missing path rejects, with no unhandled rejection beside it', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const e = await layerFromPaths([{ src: join(tmp, 'nope'), dest: '/' }]).catch((x: unknown) => x);
      expect((e as NodeJS.ErrnoException).code).toBe('ENOENT');
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a missing layer src or conda file fails before any work, naming the field and the path', async () => {
    const dir = await mkdtemp(join(tmp, 'inputs-'));
    for (const [yaml, field, path] of [
      ['layers:\n  - src: app\n  - src: nope\n', '$.layers[1].src', 'nope'],
      ['conda:\n  environment: env.yml\n', '$.conda.environment', 'env.yml'],
      ['conda:\n  lockfile: lock.txt\n', '$.conda.lockfile', 'lock.txt'],
    ] as const) {
      await writeFile(join(dir, 'app'), 'x');
      const e = await buildImage(parseSpec(yaml), { baseDir: dir }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SpecInputError);
      expect((e as SpecInputError).message).toBe(
        `pd.yaml ${field}: ${join(dir, path)}: no such file or directory`,
      );
      expect((e as SpecInputError).field).toBe(field);
    }
  });
});

describe('building', () => {
  const build = async () => {
    const spec = await loadSpec(join(examples, 'pd.yaml'));
    return buildImage(spec, { baseDir: examples });
  };

  it('builds examples/pd.yaml offline, the same digest every time', async () => {
    const a = await build();
    const b = await build();
    expect(await b.digest()).toBe(await a.digest());
    const config = await a.config();
    expect(config.created).toBe('1970-01-01T00:00:00Z');
    expect(config.config).toMatchObject({
      Env: ['GREETING=hello'],
      Entrypoint: ['/app/hello.sh'],
      WorkingDir: '/app',
      User: '1000:1000',
      ExposedPorts: { '8080/tcp': {} },
      Volumes: { '/data': {} },
      StopSignal: 'SIGTERM',
      Labels: { 'org.opencontainers.image.title': 'pd example' },
    });
    expect(config.architecture).toBe('amd64');
    const layers = await a.layers();
    expect(layers.length).toBe(2);
    expect(await listLayer(a, 0)).toEqual(['app/', 'app/hello.sh']);
    expect(await listLayer(a, 1)).toEqual(['etc/', 'etc/pd-example/', 'etc/pd-example/name']);
  });

  it('SOURCE_DATE_EPOCH sets the times (and so the digest)', async () => {
    const plain = await build();
    process.env.SOURCE_DATE_EPOCH = '1700000000';
    try {
      const dated = await build();
      expect((await dated.config()).created).toBe('2023-11-14T22:13:20Z');
      expect(await dated.digest()).not.toBe(await plain.digest());
      expect(await (await build()).digest()).toBe(await dated.digest());
    } finally {
      delete process.env.SOURCE_DATE_EPOCH;
    }
  });

  it('writes a docker archive that GNU tar can read', async () => {
    const image = await build();
    const out = join(tmp, 'hello.tar');
    await writeDockerArchive(out, [{ image, tags: ['pd-examples/hello:latest'] }]);
    const names = execFileSync('tar', ['-tf', out], { encoding: 'utf8' });
    expect(names).toContain('manifest.json');
  });

  it('applies inline file modes and excludes', async () => {
    const dir = join(tmp, 'ctx');
    execFileSync('mkdir', ['-p', join(dir, 'src', 'logs')]);
    await writeFile(join(dir, 'src', 'main.sh'), 'echo main\n');
    await writeFile(join(dir, 'src', 'logs', 'a.log'), 'x\n');
    await writeFile(join(dir, 'src', 'keep.txt'), 'keep\n');
    const spec = parseSpec(
      'layers:\n  - src: src\n    dest: /srv\n    exclude: ["logs", "*.txt"]\nfiles:\n  - path: /bin/run\n    content: "#!/bin/sh\\n"\n    mode: "0755"\n',
    );
    const image = await buildImage(spec, { baseDir: dir });
    expect(await listLayer(image, 0)).toEqual(['srv/', 'srv/main.sh']);
    const verbose = await listLayer(image, 1, true);
    expect(verbose[1]).toMatch(/^-rwxr-xr-x 0\/0 .* bin\/run$/);
  });
});

describe('base: an image inside a file, picked as skopeo does', () => {
  it('reads docker-archive:FILE:TAG, FILE:@N and oci:DIR:REF relative to pd.yaml', async () => {
    const dir = join(tmp, 'bases');
    execFileSync('mkdir', ['-p', dir]);
    const image = async (text: string) =>
      appendLayers(scratch({ platform: 'linux/amd64' }), [await layerFromContents({ '/which.txt': text })]);
    const first = await image('first\n');
    const second = await image('second\n');
    await writeDockerArchive(join(dir, 'two.tar'), [
      { image: first, tags: ['base/first:1'] },
      { image: second, tags: ['base/second:1'] },
    ]);
    await writeOciLayout(join(dir, 'layout'), first, { tag: 'one' });
    await writeOciLayout(join(dir, 'layout'), second, { tag: 'two' });
    for (const [base, want] of [
      ['docker-archive:two.tar:base/second:1', second],
      ['./two.tar:@0', first],
      ['two.tar:base/second:1', second],
      ['oci:layout:two', second],
      ['layout:one', first],
    ] as const) {
      const built = await buildImage(parseSpec(`base: "${base}"\n`), { baseDir: dir });
      expect((await built.layers()).length, base).toBe(1);
      expect(await (await built.layers())[0]!.diffId(), base).toBe(await (await want.layers())[0]!.diffId());
    }
    const e = await buildImage(parseSpec('base: ./two.tar\n'), { baseDir: dir }).catch((x: unknown) => x);
    expect((e as Error).message).toBe(`${join(dir, 'two.tar')}: holds 2 images; say which one`);
    const missing = await buildImage(parseSpec('base: ./none.tar:@1\n'), { baseDir: dir }).catch(
      (x: unknown) => x,
    );
    expect((missing as Error).message).toBe(`no such file or directory: ${join(dir, 'none.tar')}`);
  });
});

async function listLayer(image: Image, index: number, verbose = false): Promise<string[]> {
  const layer = (await image.layers())[index]!;
  const file = join(tmp, `layer-${index}-${Math.random().toString(36).slice(2)}.tar`);
  const chunks: Buffer[] = [];
  for await (const c of await layer.uncompressed()) chunks.push(c as Buffer);
  await writeFile(file, Buffer.concat(chunks));
  const out = execFileSync('tar', ['--numeric-owner', verbose ? '-tvf' : '-tf', file], { encoding: 'utf8' });
  return out.trim().split('\n');
}

describe.skipIf(condaToolsMissing())('a conda environment in pd.yaml', () => {
  it('builds the same digest twice, one layer per package, with a relative file channel', async () => {
    const dir = join(tmp, 'conda-ctx');
    await buildCondaChannel(join(dir, 'channel'), condaFixturePackages());
    await writeFile(
      join(dir, 'pd.yaml'),
      'conda:\n  specs: [hello, "c 1.0"]\n  channels: [./channel]\nconfig:\n  cmd: [hello]\n',
    );
    const spec = await loadSpec(join(dir, 'pd.yaml'));
    const logs: string[] = [];
    const a = await buildImage(spec, {
      baseDir: dir,
      condaCacheDir: join(tmp, 'conda-a'),
      onLog: (m) => logs.push(m),
    });
    // A fresh conda cache: nothing reused, the same bytes all the same.
    const b = await buildImage(spec, { baseDir: dir, condaCacheDir: join(tmp, 'conda-b') });
    expect(await b.digest()).toBe(await a.digest());
    expect((await a.layers()).length).toBe(4); // c, sh, hello, conda-meta/history
    const config = (await a.config()).config;
    expect(config?.Cmd).toEqual(['hello']);
    expect(config?.Env).toContain('CONDA_PREFIX=/opt/conda');
    expect(config?.Labels?.['org.pd.conda.specs']).toBe('hello, c 1.0');
    expect(logs).toEqual([]);
  });
});
