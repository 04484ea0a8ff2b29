import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type FaultProxy,
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
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, PD_MAIN, pd } from './helpers.js';
import { unpack } from './tree.js';

const missing = podmanMissing() ?? registryMissing() ?? skopeoMissing();

interface IndexDoc {
  mediaType: string;
  manifests: {
    mediaType: string;
    digest: string;
    platform: { architecture: string; variant?: string };
    annotations?: Record<string, string>;
  }[];
}

/**
 * A two-platform list made by podman (`podman import --arch`, `podman manifest create/add/push`),
 * in the three forms podman writes: an OCI index and a Docker manifest list in the registry, and
 * an OCI layout whose index.json points at the list. pd must read each as podman wrote it.
 */
describe.skipIf(missing)('a multi-platform manifest list made by podman', () => {
  const iso = isolatedEnv();
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let rootfs: PodmanList['rootfs'];
  let oci: string;
  let docker: string;
  let layout: string;

  const raw = async (ref: string) =>
    (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    ({ rootfs, oci, docker, layout } = await pushPodmanList(iso.dir, registry.host));
  }, 300_000);
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    iso.cleanup();
  });

  it('podman wrote what the cases below claim: an OCI index, a Docker list, a layout', async () => {
    expect((JSON.parse(await raw(oci)) as IndexDoc).mediaType).toBe(
      'application/vnd.oci.image.index.v1+json',
    );
    const list = JSON.parse(await raw(docker)) as IndexDoc;
    expect(list.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    expect(list.manifests.map((m) => m.mediaType)).toEqual([
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.docker.distribution.manifest.v2+json',
    ]);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as IndexDoc;
    expect(index.manifests.map((m) => m.mediaType)).toEqual(['application/vnd.oci.image.index.v1+json']);
  });

  it('pd inspect of an index on a terminal is a table of platform, digest and size; a pipe still gets JSON', async () => {
    const held = JSON.parse(await raw(oci)) as IndexDoc & { manifests: { size: number }[] };
    // `script` gives pd a pseudo-terminal as stdout, as a person's shell would.
    const shown = execFileSync(
      'script',
      ['-qec', `${process.execPath} -- ${PD_MAIN} inspect ${oci}`, '/dev/null'],
      { env: iso.env, encoding: 'utf8' },
    ).replace(/\r/g, '');
    const lines = shown.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^sha256:[0-9a-f]{64} {2}OCI image index, 2 entries, /);
    expect(lines[1]).toMatch(/^PLATFORM +DIGEST +SIZE +TYPE$/);
    expect(lines.slice(2).map((l) => l.split(/ {2,}/).slice(0, 2))).toEqual([
      ['linux/amd64', held.manifests[0]!.digest],
      ['linux/arm64/v8', held.manifests[1]!.digest],
    ]);
    expect(lines[2]).toMatch(/OCI manifest$/);
    const piped = await pd(['inspect', oci], { env: iso.env });
    expect(JSON.parse(piped.stdout)).toMatchObject({
      manifests: [{ platform: 'linux/amd64' }, { platform: 'linux/arm64/v8' }],
    });
  });

  it.each([
    ['the OCI index', () => oci],
    ['the Docker list', () => docker],
  ])('pd inspect of %s shows each child as the registry holds it', async (_, ref) => {
    const r = await pd(['inspect', ref(), '--json'], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    const shown = JSON.parse(r.stdout) as {
      mediaType: string;
      manifests: { digest: string; platform: string }[];
    };
    const held = JSON.parse(await raw(ref())) as IndexDoc;
    expect(shown.mediaType).toBe(held.mediaType);
    expect(shown.manifests).toEqual(
      held.manifests.map((m) => expect.objectContaining({ digest: m.digest, platform: expect.any(String) })),
    );
    expect(shown.manifests.map((m) => m.platform)).toEqual(['linux/amd64', 'linux/arm64/v8']);
  });

  it.each([
    ['the OCI index', () => oci, 'oci'],
    ['the Docker list', () => docker, 'docker'],
  ])('pd copy --all-platforms of %s keeps the list and every child byte for byte', async (_, ref, name) => {
    const to = `${registry.host}/copied/${name}:1`;
    const r = await pd(['copy', '--all-platforms', ref(), to], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    const list = await raw(ref());
    expect(await raw(to)).toBe(list);
    for (const m of (JSON.parse(list) as IndexDoc).manifests) {
      const child = `${registry.host}/copied/${name}@${m.digest}`;
      expect(await raw(child)).toBe(await raw(`${registry.host}/podman/${name}@${m.digest}`));
    }
  });

  it.each([
    ['registry, OCI index', () => oci],
    ['registry, Docker list', () => docker],
    ['layout podman wrote', () => `oci:${layout}:list`],
  ])('pd export --platform gives each child its own files, entry for entry (%s)', async (label, src) => {
    for (const [arch, platform] of [
      ['amd64', 'linux/amd64'],
      ['arm64', 'linux/arm64/v8'],
    ] as const) {
      const out = join(iso.dir, `export-${label.replace(/\W+/g, '-')}-${arch}`);
      const r = await pd(['export', '--platform', platform, src(), `${out}.tar`], { env: iso.env });
      expect(r.code, r.stderr).toBe(0);
      expect(unpack(`${out}.tar`, out)).toEqual(unpack(rootfs[arch]!, `${out}-expected`));
    }
  });

  it('pd push of the layout podman wrote keeps the list digest, and skopeo reads the same bytes', async () => {
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as IndexDoc;
    const to = `${registry.host}/from-layout/list:1`;
    const r = await pd(['push', `oci:${layout}:list`, to], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(index.manifests[0]!.digest);
    const blob = index.manifests[0]!.digest.replace(':', '/');
    expect(await raw(to)).toBe(readFileSync(join(layout, 'blobs', blob), 'utf8'));
  });

  // The child that runs is amd64.
  const noRun = runcMissing() ?? (process.arch === 'x64' ? undefined : 'needs an amd64 machine');
  it.skipIf(noRun)('pd run picks this machine’s child from the list and runs it', async () => {
    const r = await pd(['run', docker, '/bin/busybox', 'cat', '/etc/arch'], {
      env: iso.env,
      timeout: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('amd64\n');
  });

  describe('pd index authors lists from the images podman pushed', () => {
    /** podman's Docker list, its children by digest, through the counting proxy. */
    const children = async () =>
      (JSON.parse(await raw(docker)) as IndexDoc).manifests.map((m) => ({
        ref: `${proxy.host}/podman/docker@${m.digest}`,
        digest: m.digest,
        platform: m.platform,
      }));
    const entries = async (ref: string) =>
      (JSON.parse(await raw(ref)) as IndexDoc).manifests.map((m) => ({
        digest: m.digest,
        platform: m.platform,
        ...(m.annotations ? { annotations: m.annotations } : {}),
      }));
    let created: string;

    it('index create: a manifest list of the two images, children mounted, not one layer byte read', async () => {
      const kids = await children();
      created = `${proxy.host}/made/list:1`;
      proxy.resetStats();
      const r = await pd(['index', 'create', created, ...kids.flatMap((k) => ['--manifest', k.ref])], {
        env: iso.env,
      });
      expect(r.code, r.stderr).toBe(0);
      const list = JSON.parse(await raw(created)) as IndexDoc;
      expect(list.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
      expect(await entries(created)).toEqual(kids.map(({ digest, platform }) => ({ digest, platform })));
      // Layers were mounted from podman/docker, never downloaded.
      const layerGets = proxy.requests({ method: 'GET', path: '/blobs/' });
      const configs = await Promise.all(
        kids.map(
          async (k) =>
            (
              JSON.parse(await raw(k.ref.replace(proxy.host, registry.host))) as {
                config: { digest: string };
              }
            ).config.digest,
        ),
      );
      expect(layerGets.filter((g) => !configs.some((c) => g.path.endsWith(c)))).toEqual([]);
      expect(
        proxy.requests({ method: 'POST' }).filter((p) => p.url.includes('mount=')).length,
      ).toBeGreaterThan(0);
      // skopeo copies every platform of it (each blob there, each digest right).
      await skopeo([
        'copy',
        '-q',
        '--all',
        '--src-tls-verify=false',
        `docker://${created}`,
        `oci:${join(iso.dir, 'made')}:x`,
      ]);
    });

    it('index remove, add (at the end; an image already listed changes nothing), annotate (an OCI index skopeo reads)', async () => {
      const [amd64, arm64] = await children();
      const arm = `${registry.host}/made/list:arm`;
      let r = await pd(['index', 'remove', created, '--platform', 'linux/amd64', '--to', arm], {
        env: iso.env,
      });
      expect(r.code, r.stderr).toBe(0);
      expect((await entries(arm)).map((e) => e.digest)).toEqual([arm64!.digest]);
      r = await pd(['index', 'add', arm, amd64!.ref, '--to', `${registry.host}/made/list:again`], {
        env: iso.env,
      });
      expect(r.code, r.stderr).toBe(0);
      // Added at the end: arm64 first now, so a different list of the same two images.
      expect((await entries(`${registry.host}/made/list:again`)).map((e) => e.digest)).toEqual([
        arm64!.digest,
        amd64!.digest,
      ]);
      r = await pd(['index', 'add', created, arm64!.ref, '--to', `${registry.host}/made/list:same`], {
        env: iso.env,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(await raw(`${registry.host}/made/list:same`)).toBe(await raw(created)); // already listed: unchanged

      const source = 'org.opencontainers.image.source=https://example.com/app';
      r = await pd(
        [
          'index',
          'annotate',
          created,
          '--platform',
          'linux/arm64',
          '--annotation',
          source,
          '--to',
          `${registry.host}/made/list:annotated`,
        ],
        { env: iso.env },
      );
      expect(r.code, r.stderr).toBe(0);
      const annotated = JSON.parse(await raw(`${registry.host}/made/list:annotated`)) as IndexDoc;
      expect(annotated.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect((await entries(`${registry.host}/made/list:annotated`)).map((e) => e.annotations)).toEqual([
        undefined,
        { 'org.opencontainers.image.source': 'https://example.com/app' },
      ]);
      await skopeo([
        'copy',
        '-q',
        '--all',
        '--src-tls-verify=false',
        `docker://${registry.host}/made/list:annotated`,
        `oci:${join(iso.dir, 'annotated')}:x`,
      ]);
    });

    it('refuses what it cannot do, in one line', async () => {
      const [amd64] = await children();
      const single = await pd(['index', 'add', amd64!.ref, amd64!.ref], { env: iso.env });
      expect(single.code).toBe(2);
      expect(single.stderr).toMatch(/is a single image, not an index/);
      const none = await pd(['index', 'remove', created, '--platform', 'linux/s390x'], { env: iso.env });
      expect(none.code).toBe(1);
      expect(none.stderr).toMatch(/no entry of the index is for linux\/s390x/);
    });
  });
});
