import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildImage,
  docker,
  dockerMissing,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  skopeo,
  skopeoMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, pd } from './helpers.js';

const missing = registryMissing() ?? dockerMissing() ?? skopeoMissing();

const GZIP_TYPES = [
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
];
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

interface Manifest {
  mediaType: string;
  config: { mediaType: string; digest: string; size: number };
  layers: { mediaType: string; digest: string; size: number }[];
}

const SAVED = 'pd-fixtures/fidelity-saved:1';
const PUSHED = /^pushed (\S+)@(sha256:[0-9a-f]{64})\n$/;

describe.skipIf(missing)(
  'compression on push and digests across round trips, checked with docker and skopeo',
  () => {
    let registry: RunningRegistry;
    let fx: Fixtures;
    let host: string;
    const iso = isolatedEnv();
    const run = (args: string[]) => pd(args, { env: iso.env, cwd: iso.dir, timeout: 180_000 });
    const ok = async (args: string[]) => {
      const r = await run(args);
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
      return r;
    };
    const raw = async (ref: string): Promise<Manifest> =>
      JSON.parse((await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${ref}`])).stdout);
    const rawConfig = async (ref: string): Promise<string> =>
      (await skopeo(['inspect', '--tls-verify=false', '--config', '--raw', `docker://${ref}`])).stdout;
    /** Digest of what pd reads from a file (the manifest it would push as is). */
    const fileDigest = async (source: string) =>
      (JSON.parse((await ok(['inspect', source])).stdout) as { digest: string }).digest;
    const dockerRun = async (ref: string, ...cmd: string[]) =>
      (await docker(['run', '--rm', '--network', 'none', ref, ...cmd])).stdout;
    const removeImages: string[] = [];
    let diffIds: string[];
    let savedId: string;

    beforeAll(async () => {
      registry = await startRegistry();
      host = registry.host;
      fx = await fixtureImages(registry);
      // docker save writes every layer uncompressed; text compresses far better than busybox does.
      const saved = await buildImage({
        tag: SAVED,
        steps: [
          'RUN yes pd fidelity | head -c 8000000 > /big.txt',
          'RUN mkdir /data && echo new > /data/new',
        ],
      });
      savedId = saved.id;
      await docker(['save', '-o', join(iso.dir, 'layered.tar'), saved.tag]);
      const { stdout } = await docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', saved.tag]);
      diffIds = JSON.parse(stdout) as string[];
      mkdirSync(join(iso.dir, 'add'), { recursive: true });
      writeFileSync(join(iso.dir, 'add', 'zstd.txt'), 'from a zstd layer\n');
    }, 900_000);
    afterAll(async () => {
      for (const ref of removeImages) await docker(['rmi', '-f', ref]).catch(() => undefined);
      await registry?.stop();
      iso.cleanup();
    });

    it('push of a docker save archive gzips its layers: compressed types and sizes, digest on stdout, docker and skopeo read it back', async () => {
      const ref = `${host}/fidelity/saved:gzip`;
      const archive = await fileDigest('layered.tar');
      const r = await ok(['push', 'layered.tar', ref]);
      const [, pushedRef, digest] = PUSHED.exec(r.stdout) ?? [];
      expect(pushedRef).toBe(ref);
      expect(digest).not.toBe(archive);
      expect(r.stderr).toContain(`not the source's ${archive}`);
      expect(r.stderr).toMatch(/3 uncompressed layer\(s\) compressed as gzip/);

      const m = await raw(`${ref.replace(/:gzip$/, '')}@${digest}`);
      expect(m.layers).toHaveLength(diffIds.length);
      const tarSizes: number[] = [];
      for (const [i, l] of m.layers.entries()) {
        expect(GZIP_TYPES).toContain(l.mediaType);
        // The registry serves a gzip blob of exactly the size the manifest says, holding the layer's tar.
        const dir = join(iso.dir, `blob-${i}`);
        mkdirSync(dir, { recursive: true });
        const blob = execFileSync('curl', ['-sfL', `http://${host}/v2/fidelity/saved/blobs/${l.digest}`], {
          maxBuffer: 1 << 28,
        });
        expect(blob.byteLength).toBe(l.size);
        expect([...blob.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
        const tar = execFileSync('gzip', ['-dc'], { input: blob, maxBuffer: 1 << 28 });
        tarSizes.push(tar.byteLength);
        expect(`sha256:${execFileSync('sha256sum', { input: tar }).toString().slice(0, 64)}`).toBe(
          diffIds[i],
        );
      }
      const total = m.layers.reduce((n, l) => n + l.size, 0);
      // 427 MiB instead of ~170 MiB, the issue says of a Debian image: here over 10 MB of tars.
      expect(total).toBeLessThan(tarSizes.reduce((n, s) => n + s, 0) / 4);
      // The config keeps its diffIDs and, as an OCI config, holds no null.
      const config = await rawConfig(ref);
      expect(JSON.parse(config).rootfs.diff_ids).toEqual(diffIds);
      if (m.config.mediaType === OCI_CONFIG) expect(config).not.toMatch(/:null\b/);

      // Real readers: skopeo copies it (checking every blob), docker pulls and runs it.
      await skopeo([
        'copy',
        '-q',
        '--src-tls-verify=false',
        `docker://${ref}`,
        `oci:${join(iso.dir, 'sk-gzip')}:x`,
      ]);
      removeImages.push(ref);
      await docker(['pull', ref]);
      expect(await dockerRun(ref, 'sh', '-c', 'cat /data/new; wc -c < /big.txt')).toBe('new\n8000000\n');
      // As with docker push and skopeo: the image pulled back has the ID of the image saved (its
      // config, Docker's nulls included, went as it was, in a Docker schema 2 manifest).
      expect(m.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
      const pulledId = (await docker(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
      expect(pulledId).toBe(savedId);

      // Pushing again is deterministic: the same digest, every blob skipped.
      const again = await ok(['push', 'layered.tar', `${host}/fidelity/saved:again`]);
      expect(PUSHED.exec(again.stdout)?.[2]).toBe(digest);

      // pd copy to a registry compresses as skopeo does (same result); to a file it keeps layers as they are.
      const copied = await ok(['copy', 'docker-archive:layered.tar', `${host}/fidelity/copied:1`]);
      expect(PUSHED.exec(copied.stdout)?.[2]).toBe(digest);
      await ok(['copy', 'docker-archive:layered.tar', `oci:${join(iso.dir, 'copied-layout')}:v1`]);
      const kept = JSON.parse(
        (await skopeo(['inspect', '--raw', `oci:${join(iso.dir, 'copied-layout')}:v1`])).stdout,
      ) as Manifest;
      expect(kept.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar')).toBe(true);

      // --compression none (or --preserve-digests) pushes the archive's manifest as it is.
      for (const flag of ['--compression=none', '--preserve-digests']) {
        const same = await ok(['push', flag, 'layered.tar', `${host}/fidelity/saved:none`]);
        expect(PUSHED.exec(same.stdout)?.[2]).toBe(archive);
        expect(same.stderr).not.toContain('note:');
      }
      expect(
        (await raw(`${host}/fidelity/saved:none`)).layers.some((l) => GZIP_TYPES.includes(l.mediaType)),
      ).toBe(false);
    });

    it('--compression zstd, and a zstd layer appended to a Docker image: an OCI manifest skopeo reads', async () => {
      // The base is Docker schema 2 in the registry; Docker has no zstd layer type.
      expect((await raw(fx.small.ref)).mediaType).toBe(
        'application/vnd.docker.distribution.manifest.v2+json',
      );
      const ref = `${host}/fidelity/appended:zstd`;
      await ok(['append', fx.small.ref, '--layer', 'add:/', '--compression', 'zstd', '-t', ref]);
      const m = await raw(ref);
      expect(m.mediaType).toBe(OCI_MANIFEST);
      expect(m.config.mediaType).toBe(OCI_CONFIG);
      expect(m.layers.at(-1)!.mediaType).toBe(ZSTD);
      expect(
        m.layers.slice(0, -1).every((l) => l.mediaType.startsWith('application/vnd.oci.image.layer.')),
      ).toBe(true);
      expect(await rawConfig(ref)).not.toMatch(/:null\b/);
      const inspected = JSON.parse(
        (await skopeo(['inspect', '--tls-verify=false', `docker://${ref}`])).stdout,
      ) as {
        Layers: string[];
      };
      expect(inspected.Layers).toEqual(m.layers.map((l) => l.digest));
      const out = join(iso.dir, 'sk-zstd');
      await skopeo(['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${out}:x`]);
      expect(JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).manifests).toHaveLength(1);

      // A docker save archive pushed as zstd: OCI too.
      const pushed = `${host}/fidelity/saved:zstd`;
      await ok(['push', '--compression', 'zstd', 'layered.tar', pushed]);
      const z = await raw(pushed);
      expect(z.mediaType).toBe(OCI_MANIFEST);
      expect(z.layers.every((l) => l.mediaType === ZSTD)).toBe(true);
      expect(await rawConfig(pushed)).not.toMatch(/:null\b/);
    });

    it('a docker archive written from a zstd image carries gzip layers: docker load and run it', async () => {
      const source = `${host}/fidelity/appended:zstd`;
      for (const format of ['combined', 'docker']) {
        const file = join(iso.dir, `from-zstd-${format}.tar`);
        const tag = `pd-fidelity/from-zstd:${format}`;
        await ok(['pull', source, '--format', format, '-o', `docker-archive:${file}:${tag}`]);
        const names = execFileSync('tar', ['tf', file]).toString().trim().split('\n');
        for (const name of names.filter((n) => /layer\.tar$|^blobs\/sha256\/[0-9a-f]{64}$/.test(n))) {
          const head = execFileSync('sh', ['-c', `tar xOf "$0" "$1" | head -c 4 | od -An -tx1`, file, name])
            .toString()
            .replace(/\s/g, '');
          expect(head, name).not.toBe('28b52ffd'); // zstd magic
        }
        removeImages.push(tag);
        const loaded = await docker(['load', '-i', file]);
        expect(loaded.stdout).toContain(`Loaded image: ${tag}`);
        expect(await dockerRun(tag, 'cat', '/zstd.txt', '/hello.txt')).toBe(
          `from a zstd layer\n${fx.small.files['/hello.txt']}`,
        );
      }
      // An OCI output keeps zstd.
      await ok(['pull', source, '--format', 'oci', '-o', 'zstd-oci.tar']);
      const m = JSON.parse(
        (await skopeo(['inspect', '--raw', `oci-archive:${join(iso.dir, 'zstd-oci.tar')}`])).stdout,
      ) as Manifest;
      expect(m.layers.at(-1)!.mediaType).toBe(ZSTD);
    });

    it('registry → pd pull --format oci → pd push: a Docker image or manifest list changes digest with a note; --preserve-digests keeps every digest', async () => {
      const image = fx.small;
      const list = fx.multiArch.list;
      // Without the option: the manifest becomes OCI, and pd says the digest is not the source's.
      const plain = await ok(['pull', image.ref, '--format', 'oci', '-o', 'small-oci.tar']);
      expect(plain.stderr).toContain(`not the source's ${image.digest}`);
      expect(plain.stderr).toContain('--preserve-digests');
      const pushedPlain = await ok(['push', 'small-oci.tar', `${host}/fidelity/rt:plain`]);
      expect(PUSHED.exec(pushedPlain.stdout)?.[2]).not.toBe(image.digest);

      // With it: the same digest after the round trip, for an image (archive and layout) and a list.
      const kept = await ok([
        'pull',
        '--preserve-digests',
        image.ref,
        '--format',
        'oci',
        '-o',
        'small-kept.tar',
      ]);
      expect(kept.stderr).not.toContain('note:');
      const back = await ok(['push', 'small-kept.tar', `${host}/fidelity/rt:kept`]);
      expect(PUSHED.exec(back.stdout)?.[2]).toBe(image.digest);
      // skopeo reads the Docker manifest stored in the layout.
      const sk = JSON.parse(
        (await skopeo(['inspect', '--raw', `oci-archive:${join(iso.dir, 'small-kept.tar')}`])).stdout,
      ) as Manifest;
      expect(sk.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');

      await ok(['pull', '--preserve-digests', '--all-platforms', list.ref, '-o', 'list-kept']);
      const listBack = await ok(['push', 'list-kept', `${host}/fidelity/rt:list`]);
      expect(PUSHED.exec(listBack.stdout)?.[2]).toBe(list.digest);
      for (const p of fx.multiArch.platforms) {
        const child = await raw(`${host}/fidelity/rt@${p.digest}`);
        expect(child.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
      }
      const listPlain = await ok(['pull', '--all-platforms', list.ref, '-o', 'list-plain']);
      expect(listPlain.stderr).toContain(`not the source's ${list.digest}`);
      const listPlainBack = await ok(['push', 'list-plain', `${host}/fidelity/rt:list-plain`]);
      expect(PUSHED.exec(listPlainBack.stdout)?.[2]).not.toBe(list.digest);

      // pd copy keeps digests, registry to registry, and into a layout with the option.
      const copied = await ok(['copy', '--all-platforms', list.ref, `${host}/fidelity/copy:list`]);
      expect(PUSHED.exec(copied.stdout)?.[2]).toBe(list.digest);
      const toLayout = await ok([
        'copy',
        '--preserve-digests',
        image.ref,
        `oci:${join(iso.dir, 'copy-kept')}:v1`,
      ]);
      expect(toLayout.stdout).toContain(image.digest);
    });

    it('refuses options that contradict each other', async () => {
      const both = await run([
        'push',
        '--preserve-digests',
        '--compression',
        'gzip',
        'layered.tar',
        `${host}/x/y:1`,
      ]);
      expect(both.code).toBe(2);
      expect(both.stderr).toMatch(/^pd: --preserve-digests cannot compress layers/);
      const classic = await run([
        'pull',
        '--preserve-digests',
        fx.small.ref,
        '--format',
        'docker',
        '-o',
        'c.tar',
      ]);
      expect(classic.code).toBe(2);
      expect(classic.stderr).toMatch(/^pd: --preserve-digests needs an output that stores manifests/);
      const help = await ok(['help', 'push']);
      expect(help.stdout).toContain('--compression');
      expect(help.stdout).toContain('--preserve-digests');
    });
  },
);
