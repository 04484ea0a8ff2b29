import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type FaultProxy,
  type PodmanList,
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
import { isolatedEnv, PD_MAIN, pd } from './helpers.js';

const missing = podmanMissing() ?? registryMissing() ?? skopeoMissing();

interface Doc {
  mediaType: string;
  manifests?: { digest: string }[];
  config?: { digest: string };
  layers?: { digest: string }[];
}

/**
 * pd sync between two real registries and a directory: tags filtered, digests kept byte for byte
 * (skopeo reads both ends), a second run moving nothing, and a run killed midway finished by the
 * next without uploading again what had arrived.
 */
describe.skipIf(missing)('pd sync', () => {
  const iso = isolatedEnv();
  let a: RunningRegistry;
  let b: RunningRegistry;
  let proxy: FaultProxy;
  let list: PodmanList;
  const TAGS = ['1.0', '1.2.0', '2.0.0', 'latest'];

  const raw = async (ref: string) =>
    (await skopeo(['inspect', '--raw', '--tls-verify=false', ref.includes(':/') ? ref : `docker://${ref}`]))
      .stdout;
  const uploads = () => proxy.requests({ method: 'POST', path: '/blobs/uploads/' }).length;

  beforeAll(async () => {
    [a, b] = await Promise.all([startRegistry(), startRegistry()]);
    proxy = await startFaultProxy(b.url);
    list = await pushPodmanList(iso.dir, a.host);
    // team/app: a tag per version, each with its own file on both platforms of podman's list.
    for (const tag of TAGS) {
      const dir = join(iso.dir, `v${tag}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'version'), `${tag}\n`);
      const r = await pd(
        [
          'append',
          '--platform',
          'all',
          list.oci,
          '--layer',
          `${dir}:/app`,
          '-t',
          `${a.host}/team/app:${tag}`,
        ],
        { env: iso.env },
      );
      expect(r.code, r.stderr).toBe(0);
    }
  }, 300_000);
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    iso.cleanup();
  });

  it('registry → directory: the tags a semver range names, one layout per repository, manifests byte for byte', async () => {
    const dir = join(iso.dir, 'airgap');
    const r = await pd(['sync', '--semver', '>=1.2', `${a.host}/team/app`, `dir:${dir}`], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('synced 2 image(s): 2 copied, 0 up to date, 0 failed\n');
    for (const tag of ['1.2.0', '2.0.0']) {
      expect(await raw(`oci:${join(dir, 'app')}:${tag}`)).toBe(await raw(`${a.host}/team/app:${tag}`));
    }
    const one = await pd(['sync', `${a.host}/team/app:1.0`, `dir:${dir}`, '--json'], { env: iso.env });
    expect(JSON.parse(one.stdout)).toMatchObject({ copied: 1, images: [{ status: 'copied' }] });
  });

  it('a config of several repositories: into a directory, on to a second registry, every digest kept; a second run moves nothing', async () => {
    const dir = join(iso.dir, 'carry');
    const config = join(iso.dir, 'sync.yaml');
    writeFileSync(
      config,
      [
        'concurrency: 3',
        'sync:',
        `  - { from: ${a.host}/team/app, to: "dir:${dir}", tagRegex: "^(1\\\\.0|latest)$" }`,
        `  - { from: ${a.host}/podman/oci, to: "dir:${dir}" }`,
        `  - { from: ${a.host}/podman/docker, to: "dir:${dir}", platforms: all }`,
        '',
      ].join('\n'),
    );
    let r = await pd(['sync', '--config', config], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('synced 4 image(s): 4 copied, 0 up to date, 0 failed\n');

    r = await pd(['sync', dir, `${proxy.host}/mirror`], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^synced 4 image\(s\): 4 copied/);
    for (const [from, to] of [
      ['team/app:1.0', 'mirror/app:1.0'],
      ['team/app:latest', 'mirror/app:latest'],
      ['podman/oci:1', 'mirror/oci:1'],
      ['podman/docker:1', 'mirror/docker:1'],
    ] as const) {
      expect(await raw(`${b.host}/${to}`), to).toBe(await raw(`${a.host}/${from}`));
    }
    // The Docker list stayed one (nothing was converted on the way through the directory).
    expect((JSON.parse(await raw(`${b.host}/mirror/docker:1`)) as Doc).mediaType).toBe(
      'application/vnd.docker.distribution.manifest.list.v2+json',
    );

    proxy.resetStats();
    r = await pd(['sync', dir, `${proxy.host}/mirror`], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('synced 4 image(s): 0 copied, 4 up to date, 0 failed\n');
    expect(uploads()).toBe(0);
    expect(proxy.requests({ method: 'PUT' })).toEqual([]);
  });

  it('a sync killed midway is finished by the next run, which uploads no blob that had arrived', async () => {
    const source = `${a.host}/team/app:2.0.0`;
    const index = JSON.parse(await raw(source)) as Doc;
    const blobs = new Set<string>();
    for (const m of index.manifests!) {
      const child = JSON.parse(await raw(`${a.host}/team/app@${m.digest}`)) as Doc;
      blobs.add(child.config!.digest);
      for (const l of child.layers!) blobs.add(l.digest);
    }
    // Every blob upload after the first hangs; pd is killed once one has hung.
    proxy.resetStats();
    const stall = proxy.inject({
      fault: { kind: 'stall' },
      method: 'PUT',
      path: '/blobs/uploads/',
      skip: 1,
    });
    const child = spawn(
      process.execPath,
      ['--', PD_MAIN, 'sync', '--concurrency', '1', source, `${proxy.host}/killed`],
      {
        env: iso.env,
        stdio: 'ignore',
      },
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    while (stall.hits < 1) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    stall.remove();
    expect(await headManifest(b, 'killed/app', '2.0.0')).toBe(404);

    const arrived = new Set<string>();
    for (const d of blobs) if ((await headBlob(b, 'killed/app', d)) === 200) arrived.add(d);
    expect(arrived.size).toBeGreaterThan(0);
    proxy.resetStats();
    const r = await pd(['sync', source, `${proxy.host}/killed`], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    const sent = proxy
      .requests({ method: 'PUT', path: '/blobs/uploads/' })
      .map((q) => new URL(q.url, 'http://x').searchParams.get('digest'));
    expect(sent.filter((d) => d !== null && arrived.has(d))).toEqual([]);
    expect(sent.length).toBe(blobs.size - arrived.size);
    expect(await raw(`${b.host}/killed/app:2.0.0`)).toBe(await raw(source));
  });

  it('a failed image is reported and makes the exit code 1; a tag that does not exist is an error before anything moves', async () => {
    const bad = await pd(['sync', '--tag', '9.9', `${a.host}/team/app`, `dir:${join(iso.dir, 'none')}`], {
      env: iso.env,
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/has no tag 9\.9/);
    expect(existsSync(join(iso.dir, 'none'))).toBe(false);
    const unreachable = await pd(['sync', `${a.host}/team/app:1.0`, '127.0.0.1:1/x'], { env: iso.env });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/failed .*team\/app:1\.0/);
    expect(unreachable.stdout).toMatch(/1 failed/);
  });
});

async function headBlob(r: RunningRegistry, repo: string, digest: string): Promise<number> {
  return (await fetch(`${r.url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status;
}

async function headManifest(r: RunningRegistry, repo: string, tag: string): Promise<number> {
  const accept = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';
  return (await fetch(`${r.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept } }))
    .status;
}
