import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildCondaChannel,
  condaToolsMissing,
  type PodmanList,
  podmanMissing,
  pushPodmanList,
  type RunningRegistry,
  registryMissing,
  serveCondaChannel,
  skopeo,
  skopeoMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, pd } from './helpers.js';

const missing = condaToolsMissing() ?? podmanMissing() ?? registryMissing() ?? skopeoMissing();

interface Doc {
  mediaType: string;
  manifests: { digest: string; platform: { architecture: string } }[];
  layers: { digest: string }[];
}

/**
 * pd conda build for several platforms on podman's two-platform list: one environment per conda
 * subdir on its platform's base, one index; the noarch package one blob in both children.
 */
describe.skipIf(missing)('pd conda build --platform LIST', () => {
  const iso = isolatedEnv();
  let registry: RunningRegistry;
  let list: PodmanList;
  let channel: string;
  let built: Awaited<ReturnType<typeof buildCondaChannel>>;
  const raw = async (ref: string) =>
    JSON.parse((await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout) as Doc;

  beforeAll(async () => {
    registry = await startRegistry();
    list = await pushPodmanList(iso.dir, registry.host);
    channel = join(iso.dir, 'channel');
    built = await buildCondaChannel(channel, [
      { name: 'note', version: '1.0', noarch: 'generic', files: { 'share/note.txt': 'noarch\n' } },
    ]);
    // The fixture channel has linux-64 and noarch; an empty linux-aarch64 is a subdir with nothing of its own.
    mkdirSync(join(channel, 'linux-aarch64'));
    writeFileSync(
      join(channel, 'linux-aarch64', 'repodata.json'),
      JSON.stringify({ info: { subdir: 'linux-aarch64' }, packages: {}, 'packages.conda': {} }),
    );
  }, 300_000);
  afterAll(async () => {
    await registry?.stop();
    iso.cleanup();
  });

  it('pushes an index: each child on its own base, the noarch layer shared', async () => {
    const to = `${registry.host}/conda/multi:1`;
    const r = await pd(
      [
        'conda',
        'build',
        '--platform',
        'linux/amd64,linux-aarch64',
        '-b',
        list.oci,
        '-i',
        to,
        '--push',
        '--sbom',
        '-c',
        channel,
        'note',
      ],
      { env: iso.env, timeout: 300_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/linux-64: 1 package/);
    expect(r.stderr).toMatch(/linux-aarch64: 1 package/);
    const index = await raw(to);
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    const base = await raw(list.oci);
    const tops: string[] = [];
    for (const [i, m] of index.manifests.entries()) {
      const child = await raw(`${registry.host}/conda/multi@${m.digest}`);
      const own = await raw(`${registry.host}/podman/oci@${base.manifests[i]!.digest}`);
      expect(child.layers.slice(0, own.layers.length)).toEqual(own.layers);
      tops.push(child.layers.at(-1)!.digest);
    }
    expect(tops[1]).toBe(tops[0]);
    // --sbom: each child gets its SBOM as a referrer, listing the conda package.
    for (const m of index.manifests) {
      const listed = await pd(['referrers', `${registry.host}/conda/multi@${m.digest}`, '--json'], {
        env: iso.env,
      });
      expect(
        JSON.parse(listed.stdout).manifests.map((x: { artifactType: string }) => x.artifactType),
      ).toEqual(['application/spdx+json']);
    }
    await skopeo([
      'copy',
      '-q',
      '--all',
      '--src-tls-verify=false',
      `docker://${to}`,
      `oci:${join(iso.dir, 'copy')}:x`,
    ]);
    for (const [arch, platform] of [
      ['amd64', 'linux/amd64'],
      ['arm64', 'linux/arm64'],
    ] as const) {
      const out = join(iso.dir, `tree-${arch}`);
      const e = await pd(['export', '--platform', platform, to, out], { env: iso.env });
      expect(e.code, e.stderr).toBe(0);
      expect(readFileSync(join(out, 'etc', 'arch'), 'utf8')).toBe(`${arch}\n`);
      expect(readFileSync(join(out, 'opt', 'conda', 'share', 'note.txt'), 'utf8')).toBe('noarch\n');
    }
  });

  it('reads one explicit lockfile per platform, each by its "# platform:" line', async () => {
    const served = await serveCondaChannel(channel, 'fixture');
    try {
      const note = built.packages[0]!;
      const lock = (subdir: string) => {
        const file = join(iso.dir, `${subdir}.txt`);
        writeFileSync(
          file,
          `# platform: ${subdir}\n@EXPLICIT\n${served.url}/noarch/${note.filename}#${note.md5}\n`,
        );
        return file;
      };
      const out = join(iso.dir, 'locked');
      // No --platform: the lockfiles say which platforms to build, in their order.
      const r = await pd(
        [
          'conda',
          'build',
          '-b',
          'scratch',
          '-i',
          'locked:1',
          '-o',
          out,
          '--lockfile',
          lock('linux-aarch64'),
          '--lockfile',
          lock('linux-64'),
          '--json',
        ],
        { env: iso.env, timeout: 300_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout) as { platforms: { platform: string; packages: string[] }[] };
      expect(result.platforms.map((p) => [p.platform, p.packages])).toEqual([
        ['linux-aarch64', ['note-1.0-h0000000_0']],
        ['linux-64', ['note-1.0-h0000000_0']],
      ]);
      const twice = await pd(
        [
          'conda',
          'build',
          '-b',
          'scratch',
          '-i',
          'x:1',
          '-o',
          join(iso.dir, 'z'),
          '--lockfile',
          lock('linux-64'),
          '--lockfile',
          lock('linux-64'),
        ],
        { env: iso.env },
      );
      expect(twice.code).toBe(2);
      expect(twice.stderr).toMatch(/are both for linux-64/);
      const none = await pd(
        [
          'conda',
          'build',
          '--platform',
          'linux-64,linux-aarch64',
          '-b',
          'scratch',
          '-i',
          'x:1',
          '-o',
          join(iso.dir, 'w'),
          '--lockfile',
          lock('linux-64'),
        ],
        { env: iso.env },
      );
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(/no lockfile is for linux-aarch64/);
    } finally {
      await served.stop();
    }
  });

  it('refuses what it cannot build, in one line', async () => {
    const args = ['-b', 'scratch', '-i', 'x:1', '-o', join(iso.dir, 'x'), '-c', channel, 'note'];
    let r = await pd(['conda', 'build', '--platform', 'linux/riscv64', ...args], { env: iso.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no conda subdir builds for it/);
    r = await pd(['conda', 'build', '--platform', 'linux-64,linux/amd64', ...args], { env: iso.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/linux-64 is named twice/);
    // Several platforms make an index, which a docker archive cannot hold.
    r = await pd(
      [
        'conda',
        'build',
        '--platform',
        'linux-64,linux-aarch64',
        '-b',
        'scratch',
        '-i',
        'x:1',
        '-o',
        join(iso.dir, 'y.tar'),
        '-c',
        channel,
        'note',
      ],
      { env: iso.env },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/a docker archive holds single-platform images/);
  });
});
