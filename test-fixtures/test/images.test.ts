import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  docker,
  dockerMissing,
  type ExpectedConfig,
  type FixtureImage,
  type Fixtures,
  fixtureImages,
  gnuTar,
  gnuTarMissing,
  type LargeImage,
  largeImage,
  type PushedImage,
  type RunningRegistry,
  registryMissing,
  skopeo,
  skopeoMissing,
  startRegistry,
} from '../src/index.js';

const skip = dockerMissing() ?? registryMissing() ?? skopeoMissing() ?? gnuTarMissing();
const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

describe.skipIf(skip)('fixture images, built and pushed by docker', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  let work: string;
  const pulled: string[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pd-images-test-'));
    registry = await startRegistry();
    fx = await fixtureImages(registry);
  }, 600_000);
  afterAll(async () => {
    for (const ref of pulled) await docker(['image', 'rm', ref]).catch(() => undefined);
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  });

  /** `docker run --pull always`: what runs is what the registry holds, not the local build. */
  async function run(ref: string, args: string[], options: string[] = []): Promise<string> {
    pulled.push(ref);
    const { stdout } = await docker([
      'run',
      '--rm',
      '--pull',
      'always',
      '--network',
      'none',
      ...options,
      ref,
      ...args,
    ]);
    return stdout;
  }

  const tls = '--tls-verify=false';

  /** The verbose GNU tar listing (numeric owners) of each layer, downloaded by skopeo. */
  async function layerListings(img: PushedImage): Promise<string[][]> {
    const dir = join(work, `${img.repository.replaceAll('/', '_')}-${img.tag}`);
    await skopeo(['copy', '--src-tls-verify=false', `docker://${img.ref}`, `dir:${dir}`]);
    const listings: string[][] = [];
    for (const layer of img.layers) {
      const file = join(dir, layer.digest.slice('sha256:'.length));
      expect(`sha256:${sha256(await readFile(file))}`).toBe(layer.digest);
      const { stdout } = await gnuTar(['-tvzf', file, '--numeric-owner']);
      listings.push(stdout.trimEnd().split('\n'));
    }
    return listings;
  }

  /** A script printing what the final filesystem holds for each fact, and the lines expected. */
  function factScript(img: FixtureImage): { script: string; expected: string[] } {
    const lines: string[] = [];
    const expected: string[] = [];
    for (const [path, content] of Object.entries(img.files)) {
      lines.push(`echo "file ${path} $(sha256sum < ${path} | cut -d' ' -f1)"`);
      expected.push(`file ${path} ${sha256(content)}`);
    }
    for (const path of img.absent) {
      lines.push(`test -e ${path} || test -L ${path} && echo "present ${path}" || echo "absent ${path}"`);
      expected.push(`absent ${path}`);
    }
    for (const [path, target] of Object.entries(img.symlinks)) {
      lines.push(`echo "link ${path} $(readlink ${path})"`);
      expected.push(`link ${path} ${target}`);
    }
    for (const [a, b] of img.hardlinks) {
      lines.push(`test "$(stat -c %i ${a})" = "$(stat -c %i ${b})" && echo "same ${a} ${b}"`);
      expected.push(`same ${a} ${b}`);
    }
    for (const [path, { uid, gid }] of Object.entries(img.owners)) {
      lines.push(`echo "owner ${path} $(stat -c %u:%g ${path})"`);
      expected.push(`owner ${path} ${uid}:${gid}`);
    }
    for (const [path, mode] of Object.entries(img.modes)) {
      lines.push(`echo "mode ${path} $(stat -c %a ${path})"`);
      expected.push(`mode ${path} ${mode.toString(8)}`);
    }
    return { script: lines.join('\n'), expected };
  }

  async function expectFacts(img: FixtureImage): Promise<void> {
    const { script, expected } = factScript(img);
    const out = await run(img.ref, ['-c', script], ['--entrypoint', '/bin/sh', '--user', '0']);
    expect(out.trimEnd().split('\n')).toEqual(expected);
  }

  /** What skopeo reads from the registry agrees with the digest docker printed and the facts. */
  async function expectSkopeoAgrees(img: FixtureImage): Promise<void> {
    const inspect = JSON.parse((await skopeo(['inspect', tls, `docker://${img.ref}`])).stdout);
    expect(inspect.Digest).toBe(img.digest);
    expect(inspect.Layers).toEqual(img.layers.map((l) => l.digest));
    const raw = (await skopeo(['inspect', tls, '--raw', `docker://${img.ref}`])).stdout;
    expect(`sha256:${sha256(raw)}`).toBe(img.digest);
    expect(JSON.parse(raw).mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    // --raw: without it skopeo converts to the OCI config, which has no Healthcheck
    const config = JSON.parse(
      (await skopeo(['inspect', tls, '--config', '--raw', `docker://${img.ref}`])).stdout,
    );
    expect(config.rootfs.diff_ids).toEqual(img.layers.map((l) => l.diffId));
    expectConfig(config.config, img.config);
  }

  function expectConfig(c: Record<string, unknown>, want: ExpectedConfig): void {
    expect(c.Env).toEqual(want.env);
    expect(c.Cmd ?? undefined).toEqual(want.cmd);
    expect(c.Entrypoint ?? undefined).toEqual(want.entrypoint);
    expect(c.WorkingDir ?? '').toBe(want.workingDir);
    expect(c.User ?? '').toBe(want.user);
    if (want.exposedPorts) expect(Object.keys(c.ExposedPorts as object).sort()).toEqual(want.exposedPorts);
    if (want.labels) expect(c.Labels).toMatchObject(want.labels);
    if (want.volumes) expect(Object.keys(c.Volumes as object)).toEqual(want.volumes);
    expect(c.StopSignal ?? undefined).toBe(want.stopSignal);
    if (want.healthcheck) {
      const { test: t, interval, timeout, retries } = want.healthcheck;
      expect(c.Healthcheck).toEqual({ Test: t, Interval: interval, Timeout: timeout, Retries: retries });
    }
  }

  test('small: three layers, config facts, runs and prints /hello.txt', async () => {
    const img = fx.small;
    expect(img.ref).toBe(`${registry.host}/fixtures/small:latest`);
    // base, COPY, and WORKDIR (the classic builder commits the mkdir of /srv)
    expect(img.layers).toHaveLength(3);
    expect(img.layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe(
      true,
    );
    await expectSkopeoAgrees(img);
    expect(await run(img.ref, ['cat', '/hello.txt'])).toBe(img.files['/hello.txt']);
    // CMD and WORKDIR apply when nothing is given
    expect(await run(img.ref, [])).toBe(img.files['/hello.txt']);
    expect(await run(img.ref, ['pwd'])).toBe('/srv\n');
    await expectFacts(img);
  });

  test('layered: docker wrote a whiteout and an opaque whiteout into the pushed layers', async () => {
    const img = fx.layered;
    expect(img.layers.length).toBeGreaterThanOrEqual(4);
    await expectSkopeoAgrees(img);
    const listings = await layerListings(img);
    const names = listings.map((lines) => lines.map((l) => l.replace(/^.* \d\d:\d\d /, '')));
    for (const { layer, entry } of img.whiteouts) expect(names[layer]).toContain(entry);
    expect(names[3]).toContain('data/new');
    // the opaque layer re-creates only /data/new; the old files live on in layer 1 only
    expect(names[1]).toEqual(expect.arrayContaining(['data/old', 'data/sub/deep', 'removed.txt']));
    const all = listings.flat();
    expect(all.some((l) => /^-rw-r--r-- 1000\/1000 .* home\/app\/owned\.txt$/.test(l))).toBe(true);
    expect(all.some((l) => /^-rwxr-xr-x 0\/0 .* opt\/run\.sh$/.test(l))).toBe(true);
    expect(all.some((l) => /^l.* usr\/local\/bin\/run -> \/opt\/run\.sh$/.test(l))).toBe(true);
    expect(all.some((l) => /^h.* etc\/app\.conf\.link link to etc\/app\.conf$/.test(l))).toBe(true);
    await expectFacts(img);
    expect(await run(img.ref, [])).toBe('run as 0\n');
  });

  test('withUser: user, workdir, entrypoint + cmd and the other config fields', async () => {
    const img = fx.withUser;
    await expectSkopeoAgrees(img);
    const out = (await run(img.ref, [])).split('\n');
    expect(out[0]).toBe('entrypoint as 1000:1000 in /home/app');
    expect(out[1]).toMatch(/^uid=1000\(app\) gid=1000\(app\) groups=.*50\(staff\)/);
    expect(await run(img.ref, ['cat', '/etc/passwd'])).toMatch(/^app:x:1000:1000:/m);
    await expectFacts(img);
  });

  test('multiArch: a Docker manifest list and an OCI index of amd64 + arm64', async () => {
    const { list, index, platforms } = fx.multiArch;
    expect(list.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');

    const rawList = (await skopeo(['inspect', tls, '--raw', `docker://${list.ref}`])).stdout;
    expect(`sha256:${sha256(rawList)}`).toBe(list.digest);
    const entries = JSON.parse(rawList).manifests;
    expect(entries.map((m: { platform: object }) => m.platform)).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ]);
    expect(entries.map((m: { digest: string }) => m.digest)).toEqual(platforms.map((p) => p.digest));

    const rawIndex = JSON.parse((await skopeo(['inspect', tls, '--raw', `docker://${index.ref}`])).stdout);
    expect(rawIndex.manifests.map((m: { digest: string }) => m.digest)).toEqual(
      platforms.map((p) => p.ociDigest),
    );
    const repo = index.ref.replace(/:latest$/, '');
    for (const p of platforms) {
      // skopeo's Digest is the index's; the label and layers tell which entry it chose
      const chosen = JSON.parse(
        (await skopeo(['inspect', tls, '--override-arch', p.architecture, `docker://${index.ref}`])).stdout,
      );
      expect(chosen.Labels['pd.fixture.platform']).toBe(`${p.os}/${p.architecture}`);
      const child = JSON.parse(
        (await skopeo(['inspect', tls, '--raw', `docker://${repo}@${p.ociDigest}`])).stdout,
      );
      expect(child.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      expect(chosen.Layers).toEqual(child.layers.map((l: { digest: string }) => l.digest));
      expect(p.configArchitecture).toBe('amd64');
    }
    // this host is amd64: docker picks that entry of the list
    expect(await run(list.ref, ['cat', '/arch'])).toBe(platforms[0]!.archFile);
  });

  describe('largeImage', () => {
    let large: LargeImage;
    beforeAll(async () => {
      large = await largeImage(registry, { sizeMB: 3, layers: 2 });
    }, 600_000);

    test('has the data layers, the content it reports, and half of it incompressible', async () => {
      expect(large.layers).toHaveLength(3);
      const sizes = Object.values(large.bigFiles).map((f) => f.size);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(3 << 20);
      const dir = join(work, 'large');
      await skopeo(['copy', '--src-tls-verify=false', `docker://${large.ref}`, `dir:${dir}`]);
      for (const [i, [path, fact]] of Object.entries(large.bigFiles).entries()) {
        const layer = join(dir, large.layers[i + 1]!.digest.slice('sha256:'.length));
        const { stdout } = await gnuTar(['-tvzf', layer]);
        expect(stdout).toContain(` ${path.slice(1)}\n`);
        // random and text megabytes alternate: gzip shrinks the text, never the keystream
        expect(large.layers[i + 1]!.size).toBeGreaterThan(fact.size * 0.4);
        expect(large.layers[i + 1]!.size).toBeLessThan(fact.size * 0.8);
      }
      const first = Object.keys(large.bigFiles)[0]!;
      const { stdout } = await docker(['run', '--rm', '--network', 'none', large.local, 'sha256sum', first]);
      expect(stdout.split(' ')[0]).toBe(large.bigFiles[first]!.sha256);
    });

    test('repeated calls reuse the build', async () => {
      const again = await largeImage(registry.host, { sizeMB: 3, layers: 2 });
      expect(again.digest).toBe(large.digest);
    });
  });
});
