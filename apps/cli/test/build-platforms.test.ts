import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type FaultProxy,
  podmanMissing,
  pushPodmanList,
  type RunningRegistry,
  registryMissing,
  skopeo,
  skopeoMissing,
  startFaultProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, pd } from './helpers.js';

const missing = podmanMissing() ?? registryMissing() ?? skopeoMissing();

interface IndexDoc {
  mediaType: string;
  manifests: { digest: string; platform: { os: string; architecture: string; variant?: string } }[];
}
interface ManifestDoc {
  config: { digest: string };
  layers: { digest: string }[];
}

describe('pd.yaml platforms: and overrides: (validation)', () => {
  const iso = isolatedEnv();
  afterAll(() => iso.cleanup());
  const build = (yaml: string) => {
    writeFileSync(join(iso.dir, 'pd.yaml'), yaml);
    return pd(['build', iso.dir, '-o', join(iso.dir, 'out')], { env: iso.env });
  };

  it.each([
    [
      'a bad platform string',
      'platforms: [linux/amd64, "linux amd64"]\n',
      /\$\.platforms\[1\]: expected a platform such as linux\/amd64/,
    ],
    [
      'the same platform twice',
      'platforms: [linux/arm64, linux/arm64/v8]\n',
      /\$\.platforms\[1\]: linux\/arm64\/v8 is the same platform as \$\.platforms\[0\]/,
    ],
    ['an empty list', 'platforms: []\n', /\$\.platforms: /],
    [
      'both platform and platforms',
      'platform: linux/amd64\nplatforms: [linux/amd64]\n',
      /\$\.platforms: give platform \(one image\) or platforms \(an index\), not both/,
    ],
    [
      'an override for a platform not listed',
      'platforms: [linux/amd64]\noverrides:\n  linux/arm64:\n    config: { env: { A: b } }\n',
      /\$\.overrides\["linux\/arm64"\]: not one of platforms \(linux\/amd64\)/,
    ],
    [
      'overrides without platforms',
      'overrides:\n  linux/arm64:\n    files: [{ path: /x, content: y }]\n',
      /\$\.overrides\["linux\/arm64"\]: overrides apply to the platforms listed in platforms/,
    ],
    [
      'an unknown field in an override',
      'platforms: [linux/arm64]\noverrides:\n  linux/arm64:\n    env: { A: b }\n',
      /\$\.overrides\["linux\/arm64"\]\.env: unknown field \(expected one of layers, files, config\)/,
    ],
    [
      'conda.platform beside platforms',
      'platforms: [linux/amd64]\nconda:\n  specs: [x]\n  platform: linux-64\n',
      /\$\.conda\.platform: with platforms, each platform gets its own conda subdir/,
    ],
  ])('refuses %s in one line naming the field', async (_, yaml, message) => {
    const r = await build(yaml);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^pd: invalid pd\.yaml: /);
    expect(r.stderr).toMatch(message);
  });

  it('scratch serves every platform: -o DIR writes an index of both, a docker archive is refused', async () => {
    mkdirSync(join(iso.dir, 's'), { recursive: true });
    writeFileSync(
      join(iso.dir, 's', 'pd.yaml'),
      'platforms: [linux/arm64, linux/amd64]\nfiles: [{ path: /etc/x, content: "x\\n" }]\n',
    );
    const layout = join(iso.dir, 's-layout');
    const r = await pd(['build', join(iso.dir, 's'), '-o', layout, '--json'], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    const top = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as IndexDoc;
    const index = JSON.parse(
      readFileSync(join(layout, 'blobs', top.manifests[0]!.digest.replace(':', '/')), 'utf8'),
    ) as IndexDoc;
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`)).toEqual([
      'linux/arm64',
      'linux/amd64',
    ]);
    // skopeo reads every child of what pd wrote.
    await skopeo(['copy', '-q', '--all', `oci:${layout}`, `oci:${join(iso.dir, 's-copy')}:x`]);
    const tar = await pd(['build', join(iso.dir, 's'), '-o', join(iso.dir, 's.tar')], { env: iso.env });
    expect(tar.code).toBe(2);
    expect(tar.stderr).toMatch(/^pd: a docker archive holds single-platform images/);
  });
});

describe.skipIf(missing)('pd build with platforms onto a podman list in the registry', () => {
  const iso = isolatedEnv();
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let baseRef: string;
  const proj = () => join(iso.dir, 'proj');

  const raw = async (ref: string) =>
    (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout;
  const run = (args: string[]) => pd(args, { env: iso.env, timeout: 120_000 });
  /** The files of one child as `pd export --platform` gives them, unpacked. */
  const exported = async (ref: string, platform: string) => {
    const out = join(
      iso.dir,
      `export-${platform.replace(/\W/g, '-')}-${Math.random().toString(36).slice(2)}`,
    );
    const r = await run(['export', '--platform', platform, ref, `${out}.tar`]);
    expect(r.code, r.stderr).toBe(0);
    mkdirSync(out);
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-xf', `${out}.tar`, '-C', out]);
    const read = (p: string) => {
      try {
        return readFileSync(join(out, p), 'utf8');
      } catch {
        return undefined;
      }
    };
    return read;
  };

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    const list = await pushPodmanList(iso.dir, registry.host);
    // The base in the registry pd pushes to, reached through the counting proxy.
    baseRef = list.oci.replace(registry.host, proxy.host);
    mkdirSync(join(proj(), 'shared'), { recursive: true });
    mkdirSync(join(proj(), 'arm'), { recursive: true });
    writeFileSync(join(proj(), 'shared', 'app.txt'), 'one app for every platform\n');
    writeFileSync(join(proj(), 'arm', 'only-arm'), 'arm64 only\n');
    writeFileSync(
      join(proj(), 'pd.yaml'),
      [
        `base: ${baseRef}`,
        'platforms: [linux/amd64, linux/arm64]',
        'layers:',
        '  - { src: shared, dest: /opt/app }',
        'config:',
        '  env: { APP: demo }',
        'overrides:',
        '  linux/arm64:',
        '    layers: [{ src: arm, dest: /opt/arm }]',
        '    config: { env: { ARCH: arm64 } }',
        '',
      ].join('\n'),
    );
  }, 300_000);
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    iso.cleanup();
  });

  it('-t pushes an index of both platforms in order, shares the common layer, downloads no base layer', async () => {
    const baseIndex = JSON.parse(await raw(baseRef.replace(proxy.host, registry.host))) as IndexDoc;
    const baseLayers = new Set<string>();
    for (const m of baseIndex.manifests) {
      const child = JSON.parse(await raw(`${registry.host}/podman/oci@${m.digest}`)) as ManifestDoc;
      for (const l of child.layers) baseLayers.add(l.digest);
    }
    expect(baseLayers.size).toBeGreaterThanOrEqual(2);

    const ref = `${proxy.host}/built/app:1`;
    proxy.resetStats();
    const r = await run(['build', proj(), '-t', ref, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const layerGets = proxy
      .requests({ method: 'GET', path: '/blobs/' })
      .filter((g) => [...baseLayers].some((d) => g.path.endsWith(d)));
    expect(layerGets).toEqual([]);

    const pushed = `${registry.host}/built/app:1`;
    const index = JSON.parse(await raw(pushed)) as IndexDoc;
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect((JSON.parse(r.stdout) as { digest: string }).digest).toMatch(/^sha256:/);
    expect(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`)).toEqual([
      'linux/amd64',
      'linux/arm64',
    ]);
    const [amd, arm] = await Promise.all(
      index.manifests.map(
        async (m) => JSON.parse(await raw(`${registry.host}/built/app@${m.digest}`)) as ManifestDoc,
      ),
    );
    // Each child is its base's child plus the shared layer (plus arm64's own layer).
    const baseOf = async (i: number) =>
      JSON.parse(await raw(`${registry.host}/podman/oci@${baseIndex.manifests[i]!.digest}`)) as ManifestDoc;
    const [amdBase, armBase] = [await baseOf(0), await baseOf(1)];
    expect(amd!.layers.slice(0, amdBase.layers.length)).toEqual(amdBase.layers);
    expect(arm!.layers.slice(0, armBase.layers.length)).toEqual(armBase.layers);
    expect(amd!.layers).toHaveLength(amdBase.layers.length + 1);
    expect(arm!.layers).toHaveLength(armBase.layers.length + 2);
    expect(arm!.layers[armBase.layers.length]!.digest).toBe(amd!.layers[amdBase.layers.length]!.digest);

    // skopeo copies every platform (each blob there, each digest right).
    await skopeo([
      'copy',
      '-q',
      '--all',
      '--src-tls-verify=false',
      `docker://${pushed}`,
      `oci:${join(iso.dir, 'copy')}:x`,
    ]);

    for (const [arch, platform] of [
      ['amd64', 'linux/amd64'],
      ['arm64', 'linux/arm64'],
    ] as const) {
      const file = await exported(pushed, platform);
      expect(file('etc/arch')?.trim()).toBe(arch);
      expect(file('opt/app/app.txt')).toBe('one app for every platform\n');
      expect(file('opt/arm/only-arm')).toBe(arch === 'arm64' ? 'arm64 only\n' : undefined);
    }
    const env = async (platform: string) =>
      (
        JSON.parse((await run(['inspect', '--platform', platform, pushed, '--json'])).stdout) as {
          config: { env: string[] };
        }
      ).config.env;
    expect(await env('linux/arm64')).toEqual(expect.arrayContaining(['APP=demo', 'ARCH=arm64']));
    expect(await env('linux/amd64')).toContain('APP=demo');
    expect((await env('linux/amd64')).some((e) => e.startsWith('ARCH='))).toBe(false);
  });

  it('--platform all builds every platform of the base; one --platform builds one image with its override', async () => {
    const all = await run(['build', proj(), '--platform', 'all', '-t', `${registry.host}/built/all:1`]);
    expect(all.code, all.stderr).toBe(0);
    const index = JSON.parse(await raw(`${registry.host}/built/all:1`)) as IndexDoc;
    expect(index.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);

    const one = await run([
      'build',
      proj(),
      '--platform',
      'linux/arm64',
      '-t',
      `${registry.host}/built/arm:1`,
    ]);
    expect(one.code, one.stderr).toBe(0);
    const manifest = JSON.parse(await raw(`${registry.host}/built/arm:1`)) as { mediaType: string };
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    const file = await exported(`${registry.host}/built/arm:1`, 'linux/arm64');
    expect(file('etc/arch')?.trim()).toBe('arm64');
    expect(file('opt/arm/only-arm')).toBe('arm64 only\n');
  });

  it('a single-platform base serves only its own platform: a typed error names the one it lacks', async () => {
    const baseIndex = JSON.parse(await raw(baseRef.replace(proxy.host, registry.host))) as IndexDoc;
    const amdOnly = `${registry.host}/podman/oci@${baseIndex.manifests[0]!.digest}`;
    const dir = join(iso.dir, 'single');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'pd.yaml'), `base: ${amdOnly}\nplatforms: [linux/amd64, linux/arm64]\n`);
    const r = await run(['build', dir, '-o', join(iso.dir, 'single-out')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `pd: the base ${amdOnly} has no image for linux/arm64 (it has linux/amd64: build for those, or use a base that has linux/arm64)\n`,
    );
    const all = await run(['build', dir, '--platform', 'all', '-o', join(iso.dir, 'single-out')]);
    expect(all.code).toBe(1);
    expect(all.stderr).toMatch(/^pd: the base .* is not a multi-platform index/);
  });
});
