import type { Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { EntryType, TarHeader } from './header.js';
import { cleanPath } from './names.js';
import { type ResolvedTarOptions, runFilter } from './options.js';
import type { PlannedEntry } from './plan.js';

/** lstat this many directory members at once: enough to keep the threadpool busy. */
const STAT_BATCH = 64;

function entryType(st: Stats): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  return undefined; // sockets cannot be archived
}

/** Linux dev_t encoding (glibc gnu_dev_major / gnu_dev_minor). */
function devMajor(rdev: number): number {
  return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
}
function devMinor(rdev: number): number {
  return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
}

async function entryFor(
  src: string,
  dest: string,
  st: Stats,
  opts: ResolvedTarOptions,
): Promise<PlannedEntry | undefined> {
  const type = entryType(st);
  if (type === undefined) return undefined;
  const owner = opts.owner === 'keep' ? { uid: st.uid, gid: st.gid, uname: '', gname: '' } : opts.owner;
  let header: TarHeader | undefined = {
    name: type === 'directory' ? `${dest}/` : dest,
    type,
    mode: st.mode & 0o7777,
    ...owner,
    size: type === 'file' ? st.size : 0,
    mtime: opts.mtime === 'keep' ? Math.floor(st.mtimeMs / 1000) : opts.mtime,
    linkname: type === 'symlink' ? await readlink(src) : '',
    devmajor: type === 'character-device' || type === 'block-device' ? devMajor(st.rdev) : 0,
    devminor: type === 'character-device' || type === 'block-device' ? devMinor(st.rdev) : 0,
  };
  header = runFilter(opts, header, src);
  if (!header) return undefined;
  const path = cleanPath(header.name);
  const entry: PlannedEntry = {
    path,
    header,
    source: header.type === 'file' && type === 'file' ? { kind: 'file', path: src } : { kind: 'none' },
  };
  if (type !== 'directory' && st.nlink > 1) entry.inode = `${st.dev}:${st.ino}`;
  return entry;
}

/**
 * Plan the entries for host path `src` placed at layer path `dest` (cleaned, '' = root),
 * recursively. The order found here is irrelevant: {@link finalizePlan} sorts.
 */
export async function walk(
  src: string,
  dest: string,
  opts: ResolvedTarOptions,
  out: PlannedEntry[],
): Promise<void> {
  const st = await lstat(src);
  if (dest === '') {
    if (!st.isDirectory())
      throw new RangeError(`cannot place the file ${src} at the layer root; give a destination path`);
    await walkDir(src, '', opts, out);
    return;
  }
  const entry = await entryFor(src, dest, st, opts);
  if (!entry) return;
  out.push(entry);
  if (st.isDirectory()) await walkDir(src, dest, opts, out);
}

async function walkDir(
  dir: string,
  dest: string,
  opts: ResolvedTarOptions,
  out: PlannedEntry[],
): Promise<void> {
  opts.signal?.throwIfAborted();
  const names = await readdir(dir);
  const subdirs: [string, string][] = [];
  for (let i = 0; i < names.length; i += STAT_BATCH) {
    const batch = names.slice(i, i + STAT_BATCH);
    const found = await Promise.all(
      batch.map(async (name) => {
        const src = join(dir, name);
        const childDest = dest === '' ? name : `${dest}/${name}`;
        const st = await lstat(src);
        const entry = await entryFor(src, childDest, st, opts);
        return { src, entry, isDir: st.isDirectory() };
      }),
    );
    for (const { src, entry, isDir } of found) {
      if (!entry) continue;
      out.push(entry);
      if (isDir) subdirs.push([src, entry.path === '' ? '' : cleanPath(entry.path)]);
    }
  }
  for (const [src, childDest] of subdirs) await walkDir(src, childDest, opts, out);
}
