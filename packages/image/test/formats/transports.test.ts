import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidReferenceError } from '@pd/oci-types';
import {
  buildImage,
  docker,
  dockerMissing,
  podmanIn,
  podmanMissing,
  skopeo,
  skopeoMissing,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ImageSourceSyntaxError, NoSuchImageFileError } from '../../src/errors.js';
import {
  AmbiguousImageError,
  ImageNotFoundError,
  readDockerArchiveAll,
  writeOciLayout,
} from '../../src/formats/index.js';
import { layerFromContents } from '../../src/layers/built.js';
import type { Image, ImageIndex } from '../../src/model.js';
import { appendLayers } from '../../src/mutate/append.js';
import { openImage } from '../../src/open.js';
import { scratch } from '../../src/scratch.js';
import { formatImageSource, parseImageDestination, parseImageSource } from '../../src/transports.js';
import { cleanupTempDirs, tempDir } from './helpers.js';

afterAll(cleanupTempDirs);

describe('image sources in skopeo syntax', () => {
  let dir: string;
  let archive: string;
  let layout: string;

  beforeAll(async () => {
    dir = await tempDir('pd-transports-');
    archive = join(dir, 'x.tar');
    layout = join(dir, 'layout');
    await writeFile(archive, 'not read by the parser');
    await mkdir(layout);
  });

  test('transports split at the first colon after the path, as skopeo does', async () => {
    expect(await parseImageSource(`docker-archive:${archive}:app:1`)).toEqual({
      transport: 'docker-archive',
      path: archive,
      select: { name: 'app:1' },
    });
    expect(await parseImageSource(`docker-archive:${archive}:@1`)).toEqual({
      transport: 'docker-archive',
      path: archive,
      select: { index: 1 },
    });
    expect(await parseImageSource(`oci:${layout}:docker.io/library/busybox:latest`)).toEqual({
      transport: 'oci',
      path: layout,
      select: { name: 'docker.io/library/busybox:latest' },
    });
    expect(await parseImageSource(`oci-archive:${archive}`)).toEqual({
      transport: 'oci-archive',
      path: archive,
    });
    // Transports name paths that need not exist yet: the open says what is missing.
    expect(await parseImageSource('oci:./nowhere:v1')).toEqual({
      transport: 'oci',
      path: './nowhere',
      select: { name: 'v1' },
    });
    const registry = await parseImageSource('docker://busybox:1.36');
    expect(registry.transport).toBe('docker');
    expect(formatImageSource(registry)).toBe('docker://docker.io/library/busybox:1.36');
  });

  test('plain forms: an existing path, PATH:SELECTOR when PATH exists, else a reference', async () => {
    expect(await parseImageSource(archive)).toEqual({ transport: 'file', path: archive });
    // The longest existing prefix before a colon is the path; the rest, colons and all, the name.
    expect(await parseImageSource(`${archive}:app:1`)).toEqual({
      transport: 'file',
      path: archive,
      select: { name: 'app:1' },
    });
    expect(await parseImageSource(`${archive}:@0`)).toEqual({
      transport: 'file',
      path: archive,
      select: { index: 0 },
    });
    expect(await parseImageSource('x.tar:@1', { cwd: dir })).toEqual({
      transport: 'file',
      path: archive,
      select: { index: 1 },
    });
    const ref = await parseImageSource('localhost:5000/app:1', { cwd: dir });
    expect(formatImageSource(ref)).toBe('docker://localhost:5000/app:1');
    // A plain directory of the same name does not turn a reference into a path; a layout does.
    await mkdir(join(dir, 'busybox'));
    expect(formatImageSource(await parseImageSource('busybox:1.36', { cwd: dir }))).toBe(
      'docker://docker.io/library/busybox:1.36',
    );
    await writeFile(join(dir, 'busybox', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    expect(await parseImageSource('busybox:1.36', { cwd: dir })).toEqual({
      transport: 'file',
      path: join(dir, 'busybox'),
      select: { name: '1.36' },
    });
  });

  test('a missing path says so, instead of asking a registry', async () => {
    for (const input of ['nosuch.tar', './nosuch', '../nosuch/layout', `${dir}/nosuch`, 'nosuch.tar:@1']) {
      const err = await parseImageSource(input, { cwd: dir }).catch((e: unknown) => e);
      expect(err, input).toBeInstanceOf(NoSuchImageFileError);
      expect((err as Error).message).toMatch(/^no such file or directory: /);
    }
    for (const input of [
      `docker-archive:${dir}/nosuch.tar:@1`,
      `oci:${dir}/nolayout:v1`,
      `oci-archive:${dir}/no.tar`,
    ]) {
      const err = await openImage(input).catch((e: unknown) => e);
      expect(err, input).toBeInstanceOf(NoSuchImageFileError);
      expect((err as Error).message).toMatch(new RegExp(`^no such file or directory: ${dir}/no`));
    }
  });

  test('malformed selectors and outputs are refused with the syntax', async () => {
    for (const input of [`docker-archive:${archive}:@x`, 'oci::v1', `${archive}:@-1`]) {
      const err = await parseImageSource(input).catch((e: unknown) => e);
      expect(err, input).toBeInstanceOf(ImageSourceSyntaxError);
      expect((err as ImageSourceSyntaxError).hint).toContain('docker-archive:FILE[:TAG|:@N]');
    }
    expect(parseImageDestination('oci:out:v1')).toEqual({ transport: 'oci', path: 'out', name: 'v1' });
    expect(parseImageDestination('docker-archive:o.tar:app:1')).toEqual({
      transport: 'docker-archive',
      path: 'o.tar',
      name: 'app:1',
    });
    expect(parseImageDestination('out.tar')).toEqual({ path: 'out.tar' });
    expect(() => parseImageDestination('oci:out:@1')).toThrow(ImageSourceSyntaxError);
    expect(() => parseImageDestination('docker://x')).toThrow(ImageSourceSyntaxError);
    // Neither a file nor a reference: the error says both, the hint the syntax of each.
    const bad = await parseImageSource('Bad:Ref', { cwd: dir }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InvalidReferenceError);
    expect((bad as Error).message).toBe('invalid reference "Bad:Ref": repository name must be lowercase');
    expect((bad as InvalidReferenceError).hint).toMatch(
      /^write it as docker does: .*; or give a file that exists: /,
    );
    expect((bad as InvalidReferenceError).hint).toContain('oci:DIR[:REF]');
    const remote = await parseImageSource('docker://Bad').catch((e: unknown) => e);
    expect(remote).toBeInstanceOf(InvalidReferenceError);
    expect((remote as InvalidReferenceError).hint).toMatch(/^write it as docker does/);
  });
});

describe('a layout filled by several writes', () => {
  test('the same tag under another full name is kept; under the same name, replaced', async () => {
    const layout = join(await tempDir('pd-two-pulls-'), 'layout');
    const image = async (text: string) =>
      appendLayers(scratch({ platform: 'linux/amd64' }), [await layerFromContents({ '/which.txt': text })]);
    const [app, db, db2] = await Promise.all([image('app\n'), image('db\n'), image('db, later\n')]);
    await writeOciLayout(layout, app, { tag: '1', name: 'docker.io/library/app:1' });
    await writeOciLayout(layout, db, { tag: '1', name: 'docker.io/library/db:1' });
    const both = await openImage(`oci:${layout}:1`).catch((e: unknown) => e);
    expect(both).toBeInstanceOf(AmbiguousImageError);
    expect((both as AmbiguousImageError).hint).toContain(
      '@0 docker.io/library/app:1, @1 docker.io/library/db:1',
    );
    expect(await (await openImage(`oci:${layout}:app:1`)).digest()).toBe(await app.digest());
    expect(await (await openImage(`oci:${layout}:db:1`)).digest()).toBe(await db.digest());
    // db:1 again: its entry is replaced, app:1 stays.
    await writeOciLayout(layout, db2, { tag: '1', name: 'docker.io/library/db:1' });
    expect(await (await openImage(`oci:${layout}:db:1`)).digest()).toBe(await db2.digest());
    expect(await (await openImage(`oci:${layout}:@0`)).digest()).toBe(await app.digest());
    const err = await openImage(`oci:${layout}:@2`).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`${layout}: no image @2`);
  });
});

const PODMAN_TAG_A = 'localhost/pd-fixtures/select-a:other';

async function diffIds(image: Image | ImageIndex): Promise<string[]> {
  if (image.kind !== 'image') throw new Error('expected an image');
  return (await image.config()).rootfs.diff_ids;
}

describe.skipIf(dockerMissing() ?? skopeoMissing())(
  'files with several images, made by docker, skopeo and podman',
  () => {
    let dir: string;
    let saved: string;
    const a = { tag: 'pd-fixtures/select-a:one', id: '', layers: [] as string[] };
    const b = { tag: 'pd-fixtures/select-b:two', id: '', layers: [] as string[] };
    /** The images in manifest.json order (what @0 and @1 name). */
    let first: typeof a;
    let second: typeof a;

    beforeAll(async () => {
      dir = await tempDir('pd-select-');
      for (const [img, word] of [
        [a, 'first'],
        [b, 'second'],
      ] as const) {
        const built = await buildImage({ tag: img.tag, steps: [`RUN echo ${word} > /which.txt`] });
        img.id = built.id;
        const { stdout } = await docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', img.tag]);
        img.layers = JSON.parse(stdout) as string[];
      }
      expect(a.layers).not.toEqual(b.layers);
      saved = join(dir, 'x.tar');
      await docker(['save', '-o', saved, a.tag, b.tag]);
      // docker chooses the order of manifest.json; @N follows it.
      const order = (await readDockerArchiveAll(saved)).map((e) => e.tags[0]);
      [first, second] = order[0] === a.tag ? [a, b] : [b, a];
      expect(order).toEqual([first.tag, second.tag]);
    }, 600_000);

    test('docker save a b: each image by TAG and by @N, plain and with docker-archive:', async () => {
      for (const [input, want] of [
        [`docker-archive:${saved}:${a.tag}`, a],
        [`docker-archive:${saved}:${b.tag}`, b],
        [`docker-archive:${saved}:@0`, first],
        [`docker-archive:${saved}:@1`, second],
        [`${saved}:@1`, second],
        [`${saved}:${a.tag}`, a],
        [`${saved}:docker.io/${b.tag}`, b],
      ] as const) {
        const image = await openImage(input);
        expect(await image.configDigest(), input).toBe(want.id);
        expect(await diffIds(image), input).toEqual(want.layers);
      }
    });

    test('docker save a b without a selector: the error lists the images and the syntax', async () => {
      const err = await openImage(saved).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AmbiguousImageError);
      expect((err as AmbiguousImageError).message).toBe(`${saved}: holds 2 images; say which one`);
      const hint = (err as AmbiguousImageError).hint ?? '';
      expect(hint).toContain(`docker-archive:${saved}:TAG or docker-archive:${saved}:@N`);
      expect(hint).toContain(`@0 ${first.tag}, @1 ${second.tag}`);
      const missing = await openImage(`${saved}:@2`).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(ImageNotFoundError);
      expect((missing as Error).message).toBe(`${saved}: no image @2`);
      expect((missing as ImageNotFoundError).hint).toContain(`@0 ${first.tag}, @1 ${second.tag}`);
    });

    test('skopeo copy into one layout under two refs (short and full): pd selects each', async () => {
      const layout = join(dir, 'layout');
      await skopeo(['copy', '-q', `docker-archive:${saved}:${a.tag}`, `oci:${layout}:ref1`]);
      await skopeo(['copy', '-q', `docker-archive:${saved}:${b.tag}`, `oci:${layout}:ref2`]);
      await skopeo(['copy', '-q', `docker-archive:${saved}:${b.tag}`, `oci:${layout}:docker.io/${b.tag}`]);
      for (const [input, want] of [
        [`oci:${layout}:ref1`, a],
        [`oci:${layout}:ref2`, b],
        [`${layout}:ref1`, a],
        [`oci:${layout}:@1`, b],
        [`oci:${layout}:docker.io/${b.tag}`, b],
        [`oci:${layout}:${b.tag}`, b], // normalized
        [`oci:${layout}:two`, b], // the tag of a full ref.name
      ] as const) {
        expect(await diffIds(await openImage(input)), input).toEqual(want.layers);
      }
      const err = await openImage(`oci:${layout}`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AmbiguousImageError);
      expect((err as AmbiguousImageError).hint).toContain(`oci:${layout}:REF or oci:${layout}:@N`);
      expect((err as AmbiguousImageError).hint).toContain(`@0 ref1, @1 ref2, @2 docker.io/${b.tag}`);
      const archive = join(dir, 'oci.tar');
      await skopeo(['copy', '-q', `docker-archive:${saved}:${b.tag}`, `oci-archive:${archive}:${b.tag}`]);
      expect(await diffIds(await openImage(`oci-archive:${archive}:${b.tag}`))).toEqual(b.layers);
      expect(await diffIds(await openImage(`${archive}:two`))).toEqual(b.layers);
      const wrong = await openImage(`docker-archive:${archive}`).catch((e: unknown) => e);
      expect((wrong as { hint?: string }).hint).toBe(`read it as oci-archive:${archive}`);
    });

    describe.skipIf(podmanMissing())('podman save', () => {
      test('docker-archive with several images and tags, oci-archive with a full ref.name', async () => {
        const root = await tempDir('pd-podman-');
        await podmanIn(root)(['load', '-q', '-i', saved]);
        await podmanIn(root)(['tag', `localhost/${a.tag}`, PODMAN_TAG_A]);
        const multi = join(dir, 'podman-docker.tar');
        await podmanIn(root)([
          'save',
          '--format',
          'docker-archive',
          '-m',
          '-o',
          multi,
          `localhost/${a.tag}`,
          `localhost/${b.tag}`,
          PODMAN_TAG_A,
        ]);
        for (const [input, want] of [
          [`docker-archive:${multi}:localhost/${a.tag}`, a],
          [`docker-archive:${multi}:${PODMAN_TAG_A}`, a],
          [`docker-archive:${multi}:localhost/${b.tag}`, b],
          [`${multi}:@1`, b],
        ] as const) {
          expect(await diffIds(await openImage(input)), input).toEqual(want.layers);
        }
        const err = await openImage(multi).catch((e: unknown) => e);
        expect((err as AmbiguousImageError).hint).toContain(
          `@0 localhost/${a.tag} ${PODMAN_TAG_A}, @1 localhost/${b.tag}`,
        );
        const oci = join(dir, 'podman-oci.tar');
        await podmanIn(root)(['save', '--format', 'oci-archive', '-o', oci, `localhost/${b.tag}`]);
        for (const input of [
          `oci-archive:${oci}:localhost/${b.tag}`,
          `oci-archive:${oci}:two`,
          `${oci}:localhost/${b.tag}`,
          oci,
        ]) {
          expect(await diffIds(await openImage(input)), input).toEqual(b.layers);
        }
      }, 300_000);
    });
  },
);
