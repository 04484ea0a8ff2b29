import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type FaultProxy,
  missingTools,
  type PodmanList,
  podmanMissing,
  pushPodmanList,
  type RunningRegistry,
  registryMissing,
  runcMissing,
  skopeo,
  skopeoMissing,
  startFaultProxy,
  startRegistry,
  umoci,
  umociMissing,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, pd } from './helpers.js';
import { unpack } from './tree.js';

const missing =
  podmanMissing() ?? registryMissing() ?? skopeoMissing() ?? umociMissing() ?? dockerCliMissing();

/** docker's client reads lists itself (`docker manifest inspect`); no engine needed. */
function dockerCliMissing(): string | undefined {
  return missingTools('docker');
}

interface IndexDoc {
  mediaType: string;
  manifests: { mediaType: string; digest: string; platform: { architecture: string; variant?: string } }[];
}
interface ManifestDoc {
  mediaType: string;
  config: { digest: string };
  layers: { digest: string }[];
}

/**
 * `--platform all` and lists on the commands that change images, on a two-platform list podman
 * made: every child changed, the index kept, judged by skopeo, umoci and podman.
 */
describe.skipIf(missing)('changing every platform of an index', () => {
  const iso = isolatedEnv();
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let list: PodmanList;

  const raw = async (ref: string) =>
    (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout;
  const index = async (ref: string) => JSON.parse(await raw(ref)) as IndexDoc;
  const child = async (ref: string, digest: string) =>
    JSON.parse(await raw(`${ref.replace(/:[^:/]+$/, '')}@${digest}`)) as ManifestDoc;
  const platforms = (doc: IndexDoc) =>
    doc.manifests.map((m) => [m.platform.architecture, m.platform.variant].filter(Boolean).join('/'));
  /** The root filesystem of each child, exported by pd into OUT/<platform>, as {path: description}. */
  const trees = async (ref: string, name: string) => {
    const out = join(iso.dir, `trees-${name}`);
    const r = await pd(['export', '--platform', 'all', ref, out], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    return out;
  };

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    list = await pushPodmanList(iso.dir, registry.host);
    mkdirSync(join(iso.dir, 'app'));
    writeFileSync(join(iso.dir, 'app', 'hello.txt'), 'hello from every platform\n');
  }, 300_000);
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    iso.cleanup();
  });

  it('append --platform all: one index, both platforms in order, the new layer one blob, no base layer read', async () => {
    const source = await index(list.oci);
    const baseLayers = new Set<string>();
    for (const m of source.manifests) {
      for (const l of (await child(list.oci, m.digest)).layers) baseLayers.add(l.digest);
    }
    const to = `${proxy.host}/app/all:1`;
    proxy.resetStats();
    const r = await pd(
      [
        'append',
        '--platform',
        'all',
        list.oci.replace(registry.host, proxy.host),
        '--layer',
        `${join(iso.dir, 'app')}:/app`,
        '--env',
        'APP=1',
        '-t',
        to,
      ],
      { env: iso.env },
    );
    expect(r.code, r.stderr).toBe(0);
    // No layer of the base came down: each was mounted (same registry) or already there.
    const gets = proxy.requests({ method: 'GET', path: '/blobs/' });
    expect(gets.filter((g) => [...baseLayers].some((d) => g.path.endsWith(d)))).toEqual([]);

    const made = await index(to);
    expect(made.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(platforms(made)).toEqual(['amd64', 'arm64/v8']);
    expect(r.stdout).toContain(
      (
        await skopeo(['inspect', '--format', '{{.Digest}}', '--tls-verify=false', `docker://${to}`])
      ).stdout.trim(),
    );
    const tops = await Promise.all(
      made.manifests.map(async (m) => (await child(to, m.digest)).layers.at(-1)!.digest),
    );
    expect(new Set(tops).size).toBe(1);
    for (const [i, m] of made.manifests.entries()) {
      const layers = (await child(to, m.digest)).layers.map((l) => l.digest);
      const baseOfChild = (await child(list.oci, source.manifests[i]!.digest)).layers.map((l) => l.digest);
      expect(layers.slice(0, -1)).toEqual(baseOfChild);
    }

    // skopeo copies every platform; docker's own client reads the list.
    await skopeo([
      'copy',
      '-q',
      '--all',
      '--src-tls-verify=false',
      `docker://${to}`,
      `oci:${join(iso.dir, 'sk-all')}:x`,
    ]);
    const inspected = JSON.parse(
      execFileSync('docker', ['manifest', 'inspect', '--insecure', to.replace(proxy.host, registry.host)], {
        env: { ...iso.env, DOCKER_CLI_EXPERIMENTAL: 'enabled' },
        encoding: 'utf8',
      }),
    ) as IndexDoc;
    expect(inspected.manifests.map((m) => m.digest)).toEqual(made.manifests.map((m) => m.digest));
    expect(platforms(inspected)).toEqual(['amd64', 'arm64/v8']);

    // Each child holds its own base files and the shared ones, as umoci unpacks it.
    for (const [arch, platform] of [
      ['amd64', 'linux/amd64'],
      ['arm64', 'linux/arm64/v8'],
    ] as const) {
      const digest = made.manifests[arch === 'amd64' ? 0 : 1]!.digest;
      const layout = join(iso.dir, `umoci-${arch}`);
      await skopeo([
        'copy',
        '-q',
        '--src-tls-verify=false',
        `docker://${to.replace(':1', '')}@${digest}`,
        `oci:${layout}:x`,
      ]);
      const bundle = join(iso.dir, `bundle-${arch}`);
      await umoci(['unpack', '--image', `${layout}:x`, bundle]);
      expect(readFileSync(join(bundle, 'rootfs', 'etc', 'arch'), 'utf8')).toBe(`${arch}\n`);
      expect(readFileSync(join(bundle, 'rootfs', 'app', 'hello.txt'), 'utf8')).toBe(
        'hello from every platform\n',
      );
      const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
        process: { env: string[] };
      };
      expect(config.process.env).toContain('APP=1');
      const shown = JSON.parse((await skopeo(['inspect', '--config', `oci:${layout}:x`])).stdout) as {
        architecture: string;
        variant?: string;
      };
      expect([shown.architecture, shown.variant].filter(Boolean).join('/')).toBe(
        platform.replace('linux/', ''),
      );
    }
  });

  it('mutate --platform all keeps a Docker manifest list one; a list with and without --keep-other-platforms', async () => {
    const to = `${registry.host}/app/docker:1`;
    let r = await pd(['mutate', '--platform', 'all', list.docker, '--env', 'M=1', '-t', to], {
      env: iso.env,
    });
    expect(r.code, r.stderr).toBe(0);
    const made = await index(to);
    expect(made.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    expect(made.manifests.map((m) => m.mediaType)).toEqual([
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.docker.distribution.manifest.v2+json',
    ]);
    for (const m of made.manifests) {
      const config = JSON.parse(
        (
          await skopeo([
            'inspect',
            '--config',
            '--tls-verify=false',
            `docker://${registry.host}/app/docker@${m.digest}`,
          ])
        ).stdout,
      ) as { config: { Env: string[] }; architecture: string };
      expect(config.config.Env).toContain('M=1');
    }

    const source = await index(list.docker);
    const arm = `${registry.host}/app/arm:1`;
    r = await pd(['mutate', '--platform', 'linux/arm64', list.docker, '--env', 'M=2', '-t', arm], {
      env: iso.env,
    });
    expect(r.code, r.stderr).toBe(0);
    // One platform (no comma) picks one image, as before: the result is that image, not an index.
    expect((JSON.parse(await raw(arm)) as { mediaType: string }).mediaType).toBe(
      'application/vnd.docker.distribution.manifest.v2+json',
    );
    const kept = `${registry.host}/app/kept:1`;
    r = await pd(
      [
        'mutate',
        '--platform',
        'linux/arm64,linux/amd64',
        '--keep-other-platforms',
        list.docker,
        '--env',
        'M=3',
        '-t',
        kept,
      ],
      { env: iso.env },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(platforms(await index(kept))).toEqual(['amd64', 'arm64/v8']);
    const one = `${registry.host}/app/one:1`;
    r = await pd(['copy', '--platform', 'linux/arm64,linux/amd64', list.docker, one], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    // Every platform named: the very list, digest kept.
    expect(await raw(one)).toBe(await raw(list.docker));
    expect(source.manifests).toHaveLength(2);
  });

  it('flatten and rebase --platform all work per child, each onto its own platform of the bases', async () => {
    const app = `${registry.host}/app/all:1`;
    const newBase = `${registry.host}/base/patched:1`;
    mkdirSync(join(iso.dir, 'patch'));
    writeFileSync(join(iso.dir, 'patch', 'patched'), 'yes\n');
    let r = await pd(
      ['append', '--platform', 'all', list.oci, '--layer', `${join(iso.dir, 'patch')}:/etc`, '-t', newBase],
      {
        env: iso.env,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const rebased = `${registry.host}/app/rebased:1`;
    r = await pd(
      ['rebase', '--platform', 'all', app, '--old-base', list.oci, '--new-base', newBase, '-t', rebased],
      {
        env: iso.env,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const flat = `${registry.host}/app/flat:1`;
    r = await pd(['flatten', '--platform', 'all', rebased, '-t', flat], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    const made = await index(flat);
    expect(platforms(made)).toEqual(['amd64', 'arm64/v8']);
    for (const m of made.manifests) expect((await child(flat, m.digest)).layers).toHaveLength(1);
    const out = await trees(flat, 'flat');
    for (const [arch, dir] of [
      ['amd64', 'linux_amd64'],
      ['arm64', 'linux_arm64_v8'],
    ] as const) {
      expect(readFileSync(join(out, dir, 'etc', 'arch'), 'utf8')).toBe(`${arch}\n`);
      expect(readFileSync(join(out, dir, 'etc', 'patched'), 'utf8')).toBe('yes\n');
      expect(readFileSync(join(out, dir, 'app', 'hello.txt'), 'utf8')).toBe('hello from every platform\n');
    }
    // The export of each platform is the same tree pd exports for that platform alone.
    const single = join(iso.dir, 'single-arm64.tar');
    r = await pd(['export', '--platform', 'linux/arm64', flat, single], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(unpack(single, join(iso.dir, 'single-arm64'))).sort()).toContain('etc/patched');
  });

  it('without --platform an index base gives this machine’s image, and says how to keep them all', async () => {
    const r = await pd(['mutate', list.oci, '--env', 'X=1', '-t', `${registry.host}/app/host:1`], {
      env: iso.env,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /is a multi-platform index; using its linux\/amd64 image \(--platform all changes every platform\)/,
    );
  });

  it('refuses what it cannot do, in one line', async () => {
    const none = await pd(
      [
        'mutate',
        '--platform',
        'linux/arm64,linux/s390x',
        list.oci,
        '--env',
        'X=1',
        '-t',
        `${registry.host}/x:1`,
      ],
      {
        env: iso.env,
      },
    );
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/the index has no image for linux\/s390x/);
    const keep = await pd(
      [
        'mutate',
        '--platform',
        'all',
        '--keep-other-platforms',
        list.oci,
        '--env',
        'X=1',
        '-t',
        `${registry.host}/x:1`,
      ],
      {
        env: iso.env,
      },
    );
    expect(keep.code).toBe(2);
    expect(keep.stderr).toMatch(/--keep-other-platforms goes with a list --platform/);
    const tar = await pd(['export', '--platform', 'all', list.oci, join(iso.dir, 'x.tar')], { env: iso.env });
    expect(tar.code).toBe(2);
    expect(tar.stderr).toMatch(/several platforms export into a directory/);
  });

  it.skipIf(runcMissing())(
    'pd run of another platform says it cannot run here, before unpacking anything',
    async () => {
      const r = await pd(['run', '--platform', 'linux/arm64', list.docker, '/bin/true'], {
        env: iso.env,
        timeout: 120_000,
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/a linux\/arm64\/v8 image cannot run on this linux\/amd64 machine/);
      expect(r.stderr).toMatch(/qemu-user-static/);
    },
  );
});
