import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobCache, type Layer, layerFromTarball } from '@pd/image';
import { type Digest, DigestMismatchError } from '@pd/oci-types';
import { UnsafePathError } from '@pd/tar';
import { archive, gnuTar, gnuTarMissing, isRoot, rawEntry } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LayerStore, type RunnerEvent } from '../src/index.js';
import { exec } from './helpers/harness.js';

// The store unpacks layers made by GNU tar (and hostile ones built byte by byte by
// @pd/test-fixtures); overlay form is checked by mounting the cached layers with the kernel.

const skip = gnuTarMissing();

function bytesLayer(bytes: Buffer, diffId?: string): Layer {
  const d = (diffId ?? `sha256:${createHash('sha256').update(bytes).digest('hex')}`) as Digest;
  return {
    digest: async () => d,
    diffId: async () => d,
    size: async () => bytes.length,
    mediaType: async () => 'application/vnd.oci.image.layer.v1.tar',
    compressed: async () => Readable.from([bytes]),
    uncompressed: async () => Readable.from([bytes]),
  };
}

describe.skipIf(skip)('LayerStore', () => {
  let work: string;
  let blobs: BlobCache;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pd-layer-store-'));
    blobs = new BlobCache(join(work, 'blob-cache'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** A layer tar written by GNU tar from `files` (paths → content; `dir/` for directories). */
  async function gnuLayer(name: string, files: Record<string, string>): Promise<Layer> {
    const dir = join(work, `src-${name}`);
    for (const [p, content] of Object.entries(files)) {
      if (p.endsWith('/')) await mkdir(join(dir, p), { recursive: true });
      else {
        await mkdir(join(dir, p, '..'), { recursive: true });
        await writeFile(join(dir, p), content);
      }
    }
    const file = join(work, `${name}.tar`);
    await gnuTar(['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-cf', file, '-C', dir, '.']);
    return layerFromTarball(file, { cache: blobs });
  }

  test('unpacks once: a second ensure of the same diffID is a cache hit', async () => {
    const events: RunnerEvent[] = [];
    const store = new LayerStore({ cacheDir: join(work, 'c1'), onLog: (e) => events.push(e) });
    const layer = await gnuLayer('once', { 'etc/x': 'x\n', 'usr/bin/': '' });
    const a = await store.ensure(layer);
    const b = await store.ensure(layer);
    expect(events.filter((e) => e.kind === 'unpack')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'cached')).toHaveLength(1);
    expect(b.dir).toBe(a.dir);
    expect(a.dir).toBe(join(work, 'c1', 'layers', 'sha256', (await layer.diffId()).slice(7)));
    expect(await readFile(join(a.fs, 'etc/x'), 'utf8')).toBe('x\n');
    expect(await store.list()).toHaveLength(1);
  });

  test('a layer unpacked for another id mapping (rootless with subordinate ids) is unpacked again', async () => {
    const cacheDir = join(work, 'c-idmap');
    const layer = await gnuLayer('idmap', { 'etc/y': 'y\n' });
    const first = await new LayerStore({ cacheDir }).ensure(layer);
    expect(first.meta.idmap).toBeUndefined(); // this process's own mapping: none as root, single without ranges
    // The same layer as a store written under another mapping leaves it (owners for other host ids).
    const other = { ...first.meta, idmap: '0:1001:1,1:100000:65536/0:1001:1,1:100000:65536' };
    await writeFile(join(first.dir, 'meta.json'), JSON.stringify(other));
    await writeFile(join(first.fs, 'etc/y'), 'written for the other mapping\n');
    const events: RunnerEvent[] = [];
    const again = await new LayerStore({ cacheDir, onLog: (e) => events.push(e) }).ensure(layer);
    expect(events.map((e) => e.kind)).toContain('unpack');
    expect(again.meta.idmap).toBeUndefined();
    expect(await readFile(join(again.fs, 'etc/y'), 'utf8')).toBe('y\n');
    expect(await readdir(join(cacheDir, 'layers', 'tmp'))).toEqual([]);
  });

  test('concurrent ensures, in one process and across stores, unpack into one directory', async () => {
    const events: RunnerEvent[] = [];
    const cacheDir = join(work, 'c2');
    const layer = await gnuLayer('race', { 'a/b/c': 'c\n' });
    const s1 = new LayerStore({ cacheDir, onLog: (e) => events.push(e) });
    const s2 = new LayerStore({ cacheDir });
    const got = await Promise.all([s1.ensure(layer), s1.ensure(layer), s2.ensure(layer), s2.ensure(layer)]);
    expect(new Set(got.map((g) => g.dir)).size).toBe(1);
    expect(events.filter((e) => e.kind === 'unpack').length).toBeLessThanOrEqual(1);
    expect(await readdir(join(cacheDir, 'layers', 'sha256'))).toHaveLength(1);
    expect(await readdir(join(cacheDir, 'layers', 'tmp'))).toEqual([]);
    expect(await readFile(join(got[0]!.fs, 'a/b/c'), 'utf8')).toBe('c\n');
  });

  test('the first unpack sweeps half-unpacked layers of dead processes from tmp/, not those of live ones', async () => {
    const cacheDir = join(work, 'c-sweep');
    const tmp = join(cacheDir, 'layers', 'tmp');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const live = spawn('sleep', ['60']);
    try {
      await mkdir(join(tmp, `0123456789abcdef-${dead}-00112233`, 'fs', 'usr'), { recursive: true });
      await mkdir(join(tmp, `0123456789abcdef-${live.pid}-44556677`, 'fs'), { recursive: true });
      await new LayerStore({ cacheDir }).ensure(bytesLayer(archive(rawEntry({ name: 'f' }, 'sweep'))));
      expect(await readdir(tmp)).toEqual([`0123456789abcdef-${live.pid}-44556677`]);
    } finally {
      live.kill('SIGKILL');
    }
  });

  test('with verify, bytes that do not match the diffID are refused and nothing is kept', async () => {
    const cacheDir = join(work, 'c3');
    const bytes = archive(rawEntry({ name: 'f' }, 'data'));
    const store = new LayerStore({ cacheDir, verify: true });
    const lying = bytesLayer(bytes, `sha256:${'ab'.repeat(32)}`);
    await expect(store.ensure(lying)).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await store.list()).toEqual([]);
    expect(await readdir(join(cacheDir, 'layers', 'tmp'))).toEqual([]);
  });

  test('hostile layers: nothing is written outside, a climbing name is refused', async () => {
    const cacheDir = join(work, 'c4');
    const outside = join(work, 'outside');
    await mkdir(outside);
    const store = new LayerStore({ cacheDir });
    // An absolute symlink is followed as if the layer were the root: the file lands inside.
    const contained = await store.ensure(
      bytesLayer(
        archive(rawEntry({ name: 'link', type: '2', linkname: outside }), rawEntry({ name: 'link/in' }, 'x')),
      ),
    );
    expect(await readFile(join(contained.fs, outside, 'in'), 'utf8')).toBe('x');
    const climbing = bytesLayer(archive(rawEntry({ name: '../escaped' }, 'gotcha')));
    await expect(store.ensure(climbing)).rejects.toBeInstanceOf(UnsafePathError);
    expect(await readdir(outside)).toEqual([]);
    expect(existsSync(join(cacheDir, 'layers', 'escaped'))).toBe(false);
    expect(await store.list()).toHaveLength(1);
    expect(await readdir(join(cacheDir, 'layers', 'tmp'))).toEqual([]);
  });

  test.skipIf(!isRoot)('whiteouts are kept in overlay form, which the kernel honours', async () => {
    const cacheDir = join(work, 'c5');
    const store = new LayerStore({ cacheDir });
    const lower = await gnuLayer('lower', {
      'gone.txt': 'lower\n',
      'keep.txt': 'keep\n',
      'opaque/old': 'old\n',
      'opaque/sub/deep': 'deep\n',
      'dir/gone-too': 'x\n',
    });
    const upper = await gnuLayer('upper', {
      '.wh.gone.txt': '',
      'opaque/.wh..wh..opq': '',
      'opaque/new': 'new\n',
      'dir/.wh.gone-too': '',
    });
    const [lo, up] = [await store.ensure(lower), await store.ensure(upper)];
    expect(up.meta).toMatchObject({
      overlay: true,
      whiteouts: ['gone.txt', 'dir/gone-too'],
      opaques: ['opaque'],
    });
    const wh = await lstat(join(up.fs, 'gone.txt'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(existsSync(join(up.fs, '.wh.gone.txt'))).toBe(false);

    const mnt = join(work, 'mnt');
    await mkdir(mnt);
    const r = await exec('unshare', [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount -t overlay overlay -o lowerdir=${up.fs}:${lo.fs} ${mnt} && cd ${mnt} && find . | sort`,
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      '.',
      './dir',
      './keep.txt',
      './opaque',
      './opaque/new',
    ]);
  });
});
