import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scratch, writeOciLayout } from '@pd/image';
import { buildCondaChannel, condaToolsMissing } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BaseNotIndexError,
  BasePlatformError,
  buildImage,
  buildIndex,
  buildSpec,
  parseSpec,
  SpecPlatformsError,
} from '../src/index.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pd-build-platforms-'));
  process.env.PD_CACHE_DIR = join(tmp, 'cache');
  await mkdir(join(tmp, 'app'));
  await mkdir(join(tmp, 'arm'));
  await writeFile(join(tmp, 'app', 'run'), 'shared\n');
  await writeFile(join(tmp, 'arm', 'extra'), 'arm only\n');
});
afterAll(async () => rm(tmp, { recursive: true, force: true }));

const SPEC = `platforms: [linux/amd64, linux/arm64]
layers: [{ src: app, dest: /app }]
files: [{ path: /etc/app, content: "x\\n" }]
config: { env: { A: "1" }, ports: [80] }
overrides:
  linux/arm64:
    layers: [{ src: arm, dest: /arm }]
    files: [{ path: /etc/arm, content: "y\\n" }]
    config: { env: { ARCH: arm64 }, ports: [81], cmd: [arm] }
`;

describe('buildIndex', () => {
  it('one child per platform in order; shared layers are the same Layer objects; overrides add after them', async () => {
    const index = await buildIndex(parseSpec(SPEC), { baseDir: tmp });
    const children = await index.children();
    expect(children.map((c) => c.descriptor.platform?.architecture)).toEqual(['amd64', 'arm64']);
    const [amd, arm] = await Promise.all(children.map(async (c) => c.open()));
    if (amd?.kind !== 'image' || arm?.kind !== 'image') throw new Error('children are images');
    const [a, b] = [await amd.layers(), await arm.layers()];
    // amd64: app, files; arm64: app, arm, files, arm files.
    expect(a).toHaveLength(2);
    expect(b).toHaveLength(4);
    expect(b[0]).toBe(a[0]);
    expect(b[2]).toBe(a[1]);
    expect(await b[1]!.digest()).not.toBe(await a[1]!.digest());
    const [ca, cb] = [(await amd.config()).config!, (await arm.config()).config!];
    expect(ca.Env).toContain('A=1');
    expect(ca.Env?.some((e) => e.startsWith('ARCH='))).toBe(false);
    expect(cb.Env).toEqual(expect.arrayContaining(['A=1', 'ARCH=arm64']));
    expect(Object.keys(ca.ExposedPorts ?? {})).toEqual(['80/tcp']);
    expect(Object.keys(cb.ExposedPorts ?? {}).sort()).toEqual(['80/tcp', '81/tcp']);
    expect(cb.Cmd).toEqual(['arm']);
    expect(ca.Cmd).toBeUndefined();
    // Reproducible, as single images are.
    expect(await (await buildIndex(parseSpec(SPEC), { baseDir: tmp })).digest()).toBe(await index.digest());
  });

  it('buildImage needs a platform for a spec with platforms, and applies its override', async () => {
    await expect(buildImage(parseSpec(SPEC), { baseDir: tmp })).rejects.toBeInstanceOf(SpecPlatformsError);
    const arm = await buildImage(parseSpec(SPEC), { baseDir: tmp, platform: 'linux/arm64' });
    expect(await arm.layers()).toHaveLength(4);
    expect((await arm.config()).architecture).toBe('arm64');
    const one = await buildSpec(parseSpec('files: [{ path: /x, content: y }]\n'), { baseDir: tmp });
    expect(one.kind).toBe('image');
    const many = await buildSpec(parseSpec('files: [{ path: /x, content: y }]\n'), {
      baseDir: tmp,
      platforms: ['linux/arm64', 'linux/amd64'],
    });
    expect(many.kind).toBe('index');
  });

  it('a single-platform base serves only its own platform; "all" needs an index', async () => {
    const layout = join(tmp, 'amd-only');
    await writeOciLayout(layout, scratch({ platform: 'linux/amd64' }), { tag: 'v1' });
    const spec = parseSpec(`base: oci:./amd-only:v1\nplatforms: [linux/amd64, linux/arm64]\n`);
    const e = await buildIndex(spec, { baseDir: tmp }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BasePlatformError);
    expect((e as BasePlatformError).platform).toBe('linux/arm64');
    expect((e as BasePlatformError).code).toBe('PD_BASE_PLATFORM');
    const ok = await buildIndex(spec, { baseDir: tmp, platforms: ['linux/amd64'] });
    expect((await ok.children()).map((c) => c.descriptor.platform?.architecture)).toEqual(['amd64']);
    await expect(buildIndex(spec, { baseDir: tmp, platforms: 'all' })).rejects.toBeInstanceOf(
      BaseNotIndexError,
    );
  });
});

describe.skipIf(condaToolsMissing())('a conda section with platforms', () => {
  it('builds one environment per conda subdir; a noarch package is one blob in both', async () => {
    const dir = join(tmp, 'conda');
    await buildCondaChannel(join(dir, 'channel'), [
      { name: 'note', version: '1.0', noarch: 'generic', files: { 'share/note.txt': 'noarch\n' } },
    ]);
    // The fixture writes linux-64 and noarch; an empty linux-aarch64 says the channel has that subdir.
    await mkdir(join(dir, 'channel', 'linux-aarch64'), { recursive: true });
    await writeFile(
      join(dir, 'channel', 'linux-aarch64', 'repodata.json'),
      JSON.stringify({ info: { subdir: 'linux-aarch64' }, packages: {}, 'packages.conda': {} }),
    );
    const spec = parseSpec(
      'platforms: [linux/amd64, linux/arm64]\nconda:\n  specs: [note]\n  channels: [./channel]\n',
    );
    const index = await buildIndex(spec, { baseDir: dir, condaCacheDir: join(tmp, 'conda-cache') });
    const images = await Promise.all((await index.children()).map(async (c) => c.open()));
    const labels = await Promise.all(
      images.map(async (i) => (i.kind === 'image' ? (await i.config()).config?.Labels : undefined)),
    );
    expect(labels.map((l) => l?.['org.pd.conda.platform'])).toEqual(['linux-64', 'linux-aarch64']);
    const first = await Promise.all(
      images.map(async (i) => (i.kind === 'image' ? (await i.layers())[0]!.digest() : '')),
    );
    expect(first[0]).toMatch(/^sha256:/);
    expect(first[1]).toBe(first[0]);
    await expect(
      buildIndex(parseSpec('platforms: [linux/riscv64]\nconda:\n  specs: [note]\n'), { baseDir: dir }),
    ).rejects.toThrow(/conda section cannot be built for linux\/riscv64/);
  });
});
