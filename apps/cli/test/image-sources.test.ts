import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { RegistryClient } from '@pd/registry';
import {
  buildImage,
  docker,
  dockerMissing,
  type RunningRegistry,
  registryMissing,
  runcMissing,
  skopeo,
  skopeoMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureLine, hasStackTrace, isolatedEnv, pd } from './helpers.js';

const missing = registryMissing() ?? dockerMissing() ?? skopeoMissing();

const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
const HELM_CHART = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

const sha256 = (data: Uint8Array) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const descriptor = (mediaType: string, data: Uint8Array) => ({
  mediaType,
  digest: sha256(data),
  size: data.length,
});

interface Built {
  tag: string;
  id: string;
  layers: string[];
  word: string;
}

describe.skipIf(missing)(
  'images inside files, addressed as skopeo does, checked with docker and skopeo',
  () => {
    let registry: RunningRegistry;
    const iso = isolatedEnv();
    const run = (args: string[]) => pd(args, { env: iso.env, cwd: iso.dir, timeout: 120_000 });
    const inspect = async (source: string) => {
      const r = await run(['inspect', source]);
      expect(r.stderr, source).toBe('');
      expect(r.code, source).toBe(0);
      return JSON.parse(r.stdout) as {
        digest: string;
        config: { digest: string };
        layers: { diffId: string }[];
      };
    };
    const a: Built = { tag: 'pd-fixtures/cli-select-a:one', id: '', layers: [], word: 'first' };
    const b: Built = { tag: 'pd-fixtures/cli-select-b:two', id: '', layers: [], word: 'second' };
    /** The images in manifest.json order (what @0 and @1 name). */
    let first: Built;
    let second: Built;

    beforeAll(async () => {
      registry = await startRegistry();
      for (const img of [a, b]) {
        img.id = (await buildImage({ tag: img.tag, steps: [`RUN echo ${img.word} > /which.txt`] })).id;
        const { stdout } = await docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', img.tag]);
        img.layers = JSON.parse(stdout) as string[];
      }
      // `docker save a b`: one archive, two images, in an order docker chooses.
      await docker(['save', '-o', join(iso.dir, 'x.tar'), a.tag, b.tag]);
      const order = JSON.parse(
        execFileSync('tar', ['-xOf', join(iso.dir, 'x.tar'), 'manifest.json'], { encoding: 'utf8' }),
      ) as { RepoTags: string[] }[];
      [first, second] = order[0]!.RepoTags[0] === a.tag ? [a, b] : [b, a];
      expect(order.map((e) => e.RepoTags[0])).toEqual([first.tag, second.tag]);
    }, 600_000);
    afterAll(async () => {
      await registry?.stop();
      iso.cleanup();
    });

    it('inspect, export and push pick each image of docker save a b, by TAG and by @N', async () => {
      for (const [source, want] of [
        [`docker-archive:x.tar:${a.tag}`, a],
        [`docker-archive:x.tar:${b.tag}`, b],
        ['docker-archive:x.tar:@0', first],
        ['x.tar:@1', second],
        [`x.tar:${a.tag}`, a],
      ] as const) {
        const got = await inspect(source);
        expect(got.config.digest, source).toBe(want.id);
        expect(
          got.layers.map((l) => l.diffId),
          source,
        ).toEqual(want.layers);
      }
      for (const [source, want] of [
        [`docker-archive:x.tar:${b.tag}`, b],
        ['x.tar:@0', first],
      ] as const) {
        const r = await run(['export', source, '-']);
        expect(r.code, r.stderr).toBe(0);
        writeFileSync(join(iso.dir, 'rootfs.tar'), r.stdoutBytes);
        const which = execFileSync('tar', ['-xOf', join(iso.dir, 'rootfs.tar'), 'which.txt'], {
          encoding: 'utf8',
        });
        expect(which, source).toBe(`${want.word}\n`);
      }
      // pd digest of a file names the same manifest pd inspect describes.
      for (const source of ['x.tar:@1', `docker-archive:x.tar:${a.tag}`]) {
        const d = await run(['digest', source]);
        expect(d.code, d.stderr).toBe(0);
        expect(d.stdout.trim()).toBe((await inspect(source)).digest);
      }
      const ref = `${registry.host}/select/b:two`;
      const pushed = await run(['push', 'x.tar:@1', ref]);
      expect(pushed.code, pushed.stderr).toBe(0);
      // The config may be rewritten on the way (OCI has no nulls); the layers are the same.
      expect((await inspect(`docker://${ref}`)).layers.map((l) => l.diffId)).toEqual(second.layers);
    });

    it('"say which one" lists the images and the syntax; a missing path is "no such file or directory"', async () => {
      const r = await run(['inspect', 'x.tar']);
      expect(r.code).toBe(1);
      expect(hasStackTrace(r.stderr)).toBe(false);
      expect(failureLine(r)).toBe(
        `pd: x.tar: holds 2 images; say which one (name one as docker-archive:x.tar:TAG or docker-archive:x.tar:@N; available: @0 ${first.tag}, @1 ${second.tag})`,
      );
      const out = await run(['export', 'x.tar:@2', 'out.tar']);
      expect(failureLine(out)).toMatch(/^pd: x\.tar: no image @2 \(name one as docker-archive:x\.tar:TAG/);
      for (const args of [
        ['inspect', 'nosuch.tar'],
        ['export', './nosuch', 'out.tar'],
        ['push', 'nosuch.tar', `${registry.host}/select/x:1`],
        ['flatten', 'docker-archive:nosuch.tar:@1', '-o', 'flat.tar'],
        ['inspect', 'oci:./nolayout:v1'],
        ['run', '--rm', 'nosuch.tar:@1'],
        ['digest', 'nosuch.tar'],
      ]) {
        const missing = await run(args);
        expect(missing.code, args.join(' ')).toBe(1);
        expect(failureLine(missing), args.join(' ')).toMatch(
          /^pd: no such file or directory: \.?\/?no(such|layout)/,
        );
      }
      // Not a file and not a reference: the hint says how to write each.
      const bad = await run(['inspect', 'Bad:Ref']);
      expect(failureLine(bad)).toMatch(
        /^pd: invalid reference "Bad:Ref": repository name must be lowercase \(write it as docker does: .*; or give a file that exists: PATH\[:TAG\|:@N\], docker-archive:FILE/,
      );
      const badRemote = await run(['pull', 'docker://Bad', '-o', 'out']);
      expect(failureLine(badRemote)).toBe(
        'pd: invalid reference "Bad": repository name must be lowercase (write it as docker does: ubuntu, ghcr.io/org/app:1.2, localhost:5000/app@sha256:<hex>)',
      );
    });

    it.skipIf(runcMissing())('run picks an image of the archive', async () => {
      for (const [source, want] of [
        ['x.tar:@1', second],
        [`docker-archive:x.tar:${a.tag}`, a],
      ] as const) {
        const r = await run(['run', '--rm', source, 'cat', '/which.txt']);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe(`${want.word}\n`);
      }
    });

    it('skopeo fills one layout under two refs; pd selects each, and writes oci:DIR:REF and docker-archive:FILE:TAG', async () => {
      await skopeo(['copy', '-q', `docker-archive:x.tar:${a.tag}`, 'oci:layout:ref1'], { cwd: iso.dir });
      await skopeo(['copy', '-q', `docker-archive:x.tar:${b.tag}`, 'oci:layout:ref2'], { cwd: iso.dir });
      for (const [source, want] of [
        ['oci:layout:ref1', a],
        ['layout:ref2', b],
        ['oci:layout:@1', b],
      ] as const) {
        expect(
          (await inspect(source)).layers.map((l) => l.diffId),
          source,
        ).toEqual(want.layers);
      }
      // The digest skopeo sees for an entry is the one pd prints.
      const seenRef2 = JSON.parse(
        (await skopeo(['inspect', 'oci:layout:ref2'], { cwd: iso.dir })).stdout,
      ) as {
        Digest: string;
      };
      expect((await run(['digest', 'oci:layout:ref2'])).stdout.trim()).toBe(seenRef2.Digest);
      const ambiguous = await run(['inspect', 'layout']);
      expect(failureLine(ambiguous)).toBe(
        'pd: layout: holds 2 images; say which one (name one as oci:layout:REF or oci:layout:@N; available: @0 ref1, @1 ref2)',
      );
      // Outputs in the same syntax: a third entry in skopeo's layout, and a docker archive with a tag.
      const ref = `${registry.host}/select/b:two`;
      await run(['push', `x.tar:${b.tag}`, ref]);
      const pulled = await run(['pull', `docker://${ref}`, '-o', 'oci:layout:pulled']);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect((await inspect('oci:layout:pulled')).layers.map((l) => l.diffId)).toEqual(b.layers);
      const seen = JSON.parse((await skopeo(['inspect', 'oci:layout:pulled'], { cwd: iso.dir })).stdout) as {
        Layers: string[];
      };
      expect(seen.Layers).toHaveLength(b.layers.length);
      const clash = await run(['pull', ref, '-o', 'oci:layout:x', '--format', 'docker']);
      expect(clash.code).toBe(2);
      expect(failureLine(clash)).toBe(
        'pd: --format docker does not match oci: (the transport of -o says the format; drop --format)',
      );
      const copied = await run(['copy', 'oci:layout:ref1', 'docker-archive:copied.tar:select/copied:1']);
      expect(copied.code, copied.stderr).toBe(0);
      const loaded = await docker(['load', '-i', join(iso.dir, 'copied.tar')]);
      expect(loaded.stdout).toContain('Loaded image: select/copied:1');
      const { stdout } = await docker([
        'image',
        'inspect',
        '--format',
        '{{json .RootFS.Layers}}',
        'select/copied:1',
      ]);
      expect(JSON.parse(stdout)).toEqual(a.layers);
      await docker(['rmi', 'select/copied:1']);
    });

    it('two pd pull -o DIR of images with the same tag keep both; each is picked by name or @N', async () => {
      const refA = `${registry.host}/select/a:same`;
      const refB = `${registry.host}/select/b:same`;
      expect((await run(['push', `x.tar:${a.tag}`, refA])).code).toBe(0);
      expect((await run(['push', `x.tar:${b.tag}`, refB])).code).toBe(0);
      for (const ref of [refA, refB]) {
        const r = await run(['pull', ref, '-o', 'pulled']);
        expect(r.code, r.stderr).toBe(0);
      }
      for (const [source, want] of [
        [`oci:pulled:${refA}`, a],
        [`pulled:${refB}`, b],
        ['pulled:@0', a],
        ['oci:pulled:@1', b],
      ] as const) {
        expect(
          (await inspect(source)).layers.map((l) => l.diffId),
          source,
        ).toEqual(want.layers);
      }
      const same = await run(['inspect', 'oci:pulled:same']);
      expect(failureLine(same)).toBe(
        `pd: pulled: holds 2 images; say which one ("same" names more than one; use the full name (io.containerd.image.name), a digest or @N; available: @0 ${refA}, @1 ${refB})`,
      );
    });

    it('inspect shows artifacts (a Helm chart, an artifactType with the empty config) from a registry and a layout', async () => {
      const client = new RegistryClient();
      const repo = `${registry.host}/charts/demo`;
      const config = Buffer.from(JSON.stringify({ name: 'demo', version: '0.1.0', apiVersion: 'v2' }));
      const chart = gzipSync(Buffer.from('a chart is a tar.gz; its bytes do not matter here\n'));
      for (const blob of [config, chart]) {
        await client.uploadBlob(repo, () => Readable.from([blob]), {
          digest: sha256(blob),
          size: blob.length,
        });
      }
      const helm = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: descriptor(HELM_CONFIG, config),
          layers: [descriptor(HELM_CHART, chart)],
          annotations: { 'org.opencontainers.image.title': 'demo' },
        }),
      );
      await client.putManifest(`${repo}:0.1.0`, helm, OCI_MANIFEST);
      const empty = Buffer.from('{}');
      await client.uploadBlob(repo, () => Readable.from([empty]), { digest: sha256(empty), size: 2 });
      const sbom = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/vnd.example.sbom.v1+json',
          config: descriptor(OCI_EMPTY, empty),
          layers: [descriptor('application/vnd.example.sbom.v1+json', config)],
        }),
      );
      await client.putManifest(`${repo}:sbom`, sbom, OCI_MANIFEST);
      await client.close();

      const expectedHelm = {
        digest: sha256(helm),
        mediaType: OCI_MANIFEST,
        size: helm.length,
        artifactType: HELM_CONFIG,
        config: descriptor(HELM_CONFIG, config),
        layers: [descriptor(HELM_CHART, chart)],
        annotations: { 'org.opencontainers.image.title': 'demo' },
      };
      for (const args of [
        ['inspect', `${repo}:0.1.0`],
        ['inspect', '--json', `docker://${repo}:0.1.0`],
      ]) {
        const r = await run(args);
        expect(r.stderr, args.join(' ')).toBe('');
        expect(JSON.parse(r.stdout)).toEqual(expectedHelm);
      }
      const s = await run(['inspect', `${repo}:sbom`]);
      expect(s.stderr).toBe('');
      expect(JSON.parse(s.stdout)).toMatchObject({
        digest: sha256(sbom),
        artifactType: 'application/vnd.example.sbom.v1+json',
        config: { mediaType: OCI_EMPTY, size: 2 },
        layers: [{ mediaType: 'application/vnd.example.sbom.v1+json', size: config.length }],
      });

      // The same artifact in an OCI layout (written by hand: blobs and index.json are all it is).
      const layout = join(iso.dir, 'charts');
      mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
      for (const blob of [config, chart, helm]) {
        writeFileSync(join(layout, 'blobs', 'sha256', sha256(blob).slice(7)), blob);
      }
      writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      writeFileSync(
        join(layout, 'index.json'),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              ...descriptor(OCI_MANIFEST, helm),
              annotations: { 'org.opencontainers.image.ref.name': '0.1.0' },
            },
          ],
        }),
      );
      const local = await run(['inspect', 'oci:charts:0.1.0']);
      expect(local.stderr).toBe('');
      expect(JSON.parse(local.stdout)).toEqual(expectedHelm);
    });
  },
);
