import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { digestOf } from '@pd/oci-types';
import { describe, expect, test } from 'vitest';
import { describeTree, scratchDir } from '../test/helpers.js';
import { FileSlice } from './batched-file.js';
import { extract } from './index.js';
import { threadWrites } from './write-thread.js';

// A layer of at least 16 MiB read from a file is extracted with a second thread writing its small
// files (write-thread.ts). The layers here come from GNU tar, and GNU tar's extraction of the same
// archive is what pd's must equal, entry by entry.

const base = scratchDir('pd-write-thread-');
const isRoot = process.getuid?.() === 0;
const twoCores = availableParallelism() > 1;
const FILES = 3000;
const DIRS = 30;

/** `d00/f0000` ...: the i-th file of the tree, in the archive's (sorted) order. */
const fileName = (i: number) =>
  `d${String(Math.floor(i / (FILES / DIRS))).padStart(2, '0')}/f${String(i).padStart(4, '0')}`;
const LAST = fileName(FILES - 1);

/** A tree of small files of every size up to 12 KiB, modes and times of their own (owners as root). */
function smallFiles(src: string): void {
  for (let d = 0; d < DIRS; d++) mkdirSync(join(src, `d${String(d).padStart(2, '0')}`), { recursive: true });
  for (let i = 0; i < FILES; i++) {
    const path = join(src, fileName(i));
    writeFileSync(path, Buffer.alloc(1 + ((i * 4099) % 12_288), i % 251));
    chmodSync(path, [0o644, 0o755, 0o600, 0o444, 0o666][i % 5]!);
    if (isRoot && i % 7 === 0) chownSync(path, 1000 + (i % 3), 1000);
    utimesSync(path, 1_600_000_000 + i, 1_600_000_000 + i);
  }
}

let made: { src: string; tar: string } | undefined;
/**
 * The small files' tree (made once) and GNU tar's archive of it (names sorted, numeric owners),
 * copied to `file` for a test to append to; the layer as a checked file slice.
 */
function layerFile(file: string): { src: string; slice: FileSlice } {
  if (made === undefined) {
    const src = join(base, 'small-src');
    smallFiles(src);
    const tar = join(base, 'small.tar');
    execFileSync('tar', ['-cf', tar, '--sort=name', '--numeric-owner', '-C', src, '.']);
    made = { src, tar };
  }
  copyFileSync(made.tar, file);
  return { src: made.src, slice: sliceOf(file) };
}

function sliceOf(file: string): FileSlice {
  const size = statSync(file).size;
  return new FileSlice(file, 0, size, { digest: digestOf(readFileSync(file)) });
}

/** Every entry's type, mode, time, owner and link count, and every file's bytes. */
const listing = (dir: string) => describeTree(dir, { mtime: true, owners: true });

/** GNU tar's extraction of `file` (modes and, as root, owners kept). */
function gnuExtract(file: string, label: string): string {
  const dir = join(base, `${label}-gnu`);
  mkdirSync(dir);
  execFileSync('tar', ['-xpf', file, '--numeric-owner', '-C', dir]);
  return dir;
}

describe('extraction with a second thread writing small files', () => {
  test('a layer of 3000 small files comes out as GNU tar leaves it, most of them written on the thread', async () => {
    const file = join(base, 'small-copy.tar');
    const { slice } = layerFile(file);
    expect(slice.size).toBeGreaterThanOrEqual(16 << 20);
    const before = threadWrites.count;
    const dir = join(base, 'small-pd');
    await extract(slice, dir, { chown: true, specialModes: true });
    if (twoCores) expect(threadWrites.count - before).toBeGreaterThan(FILES / 3);
    expect(listing(dir)).toEqual(listing(gnuExtract(file, 'small')));
  });

  test('later entries at the paths of files the thread may still be writing come after them, as GNU tar has it', async () => {
    const file = join(base, 'later.tar');
    layerFile(file);
    // Appended by GNU tar (-r): the last files of the archive again, as other things.
    const more = join(base, 'later-more');
    const last = (k: number) => fileName(FILES - 1 - k);
    mkdirSync(join(more, 'd29'), { recursive: true });
    symlinkSync('elsewhere', join(more, last(0)));
    mkdirSync(join(more, last(1)));
    writeFileSync(join(more, last(1), 'inside'), 'in the directory that replaced a file');
    writeFileSync(join(more, last(2)), 'the second copy wins');
    writeFileSync(join(more, last(3)), 'shared by a hardlink');
    linkSync(join(more, last(3)), join(more, 'd29', 'hardlink'));
    // The directory again first, so that its time is set after what comes into it (GNU tar sets
    // a directory's time once it has left it; pd at the end).
    utimesSync(join(more, 'd29'), 1_700_000_000, 1_700_000_000);
    execFileSync('tar', [
      '-rf',
      file,
      '--numeric-owner',
      '--no-recursion',
      '-C',
      more,
      'd29',
      last(0),
      last(1),
      `${last(1)}/inside`,
      last(2),
      last(3),
      'd29/hardlink',
    ]);
    const dir = join(base, 'later-pd');
    await extract(sliceOf(file), dir, { chown: true, specialModes: true });
    expect(lstatSync(join(dir, LAST)).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, last(1), 'inside'), 'utf8')).toBe('in the directory that replaced a file');
    expect(readFileSync(join(dir, last(2)), 'utf8')).toBe('the second copy wins');
    expect(lstatSync(join(dir, 'd29', 'hardlink')).ino).toBe(lstatSync(join(dir, last(3))).ino);
    expect(listing(dir)).toEqual(listing(gnuExtract(file, 'later')));
  });

  test('what the target holds where the thread makes files is replaced: a directory, a file, a symlink', async () => {
    const { src, slice: layer } = layerFile(join(base, 'held.tar'));
    // Made on disk before, not by this extraction: nothing tells it what is there.
    const dir = join(base, 'held-pd');
    const dirs = [fileName(5), fileName(FILES - 2)];
    for (const name of dirs) {
      mkdirSync(join(dir, name), { recursive: true });
      writeFileSync(join(dir, name, 'below'), 'gone once the layer is extracted');
    }
    writeFileSync(join(dir, LAST), 'a file there before, replaced');
    const victim = join(base, 'held-victim');
    writeFileSync(victim, 'never written through');
    symlinkSync(victim, join(dir, fileName(7)));
    await extract(layer, dir);
    for (const name of [...dirs, LAST, fileName(7)]) {
      expect(lstatSync(join(dir, name)).isFile()).toBe(true);
      expect(readFileSync(join(dir, name))).toEqual(readFileSync(join(src, name)));
    }
    expect(readFileSync(victim, 'utf8')).toBe('never written through');
  });

  test('a file the thread cannot make fails the extraction with the system’s error', async () => {
    const file = join(base, 'fail.tar');
    layerFile(file);
    // A name longer than the filesystem allows, appended by GNU tar (a GNU long name).
    const more = join(base, 'fail-more');
    mkdirSync(more);
    writeFileSync(join(more, 'x'), 'too long a name');
    execFileSync('tar', ['-rf', file, '-C', more, '--transform', `s,^x$,d29/${'n'.repeat(300)},`, 'x']);
    await expect(extract(sliceOf(file), join(base, 'fail-pd'))).rejects.toMatchObject({
      code: 'ENAMETOOLONG',
    });
  });
});
