import type { Stats } from 'node:fs';
import { lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { EntryType, TarHeader } from './header.js';
import { cleanPath } from './names.js';
import { type ResolvedTarOptions, runFilter } from './options.js';
import type { PlannedEntry } from './plan.js';

/*
 * The walk uses synchronous lstat/readdir: each is a few microseconds, while the promise API costs
 * a threadpool round trip per call, which measured 4x slower on trees of small files. The event
 * loop gets a turn every YIELD_EVERY entries so that a huge tree does not starve other work.
 */
const YIELD_EVERY = 256;
let sinceYield = 0;
/** Whether it is the event loop's turn (then await {@link yieldTurn}); no promise otherwise. */
function turnDue(): boolean {
  if (++sinceYield < YIELD_EVERY) return false;
  sinceYield = 0;
  return true;
}
function yieldTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

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

/**
 * The planned entry of host path `src` (stat `st`) at layer path `dest`; undefined when it cannot
 * be archived or the filter drops it.
 */
function entryFor(src: string, dest: string, st: Stats, opts: ResolvedTarOptions): PlannedEntry | undefined {
  const type = entryType(st);
  if (type === undefined) return undefined;
  const owner = opts.owner === 'keep' ? { uid: st.uid, gid: st.gid, uname: '', gname: '' } : opts.owner;
  const name = type === 'directory' ? `${dest}/` : dest;
  let header: TarHeader | undefined = {
    name,
    type,
    mode: st.mode & 0o7777,
    ...owner,
    size: type === 'file' ? st.size : 0,
    mtime: opts.mtime === 'keep' ? Math.floor(st.mtimeMs / 1000) : opts.mtime,
    linkname: type === 'symlink' ? readlinkSync(src) : '',
    devmajor: type === 'character-device' || type === 'block-device' ? devMajor(st.rdev) : 0,
    devminor: type === 'character-device' || type === 'block-device' ? devMinor(st.rdev) : 0,
  };
  header = runFilter(opts, header, src);
  if (!header) return undefined;
  // `dest` is clean (a clean parent and a name from readdir) unless a filter renamed the entry.
  const path = header.name === name ? dest : cleanPath(header.name);
  const entry: PlannedEntry = {
    path,
    header,
    source: header.type === 'file' && type === 'file' ? { kind: 'file', path: src } : { kind: 'none' },
  };
  if (type !== 'directory' && st.nlink > 1) entry.inode = `${st.dev}:${st.ino}`;
  return entry;
}

/**
 * Where host path `src` lands at layer path `dest` (cleaned, '' = root): its own entry (none for
 * the root, or when it cannot be archived or the filter drops it), and the host directory whose
 * content goes under `dest` (when `src` is a directory that is kept). The source itself is
 * followed if it is a symlink (as docker's COPY does); inside it, nothing is.
 */
export function placeSource(
  src: string,
  dest: string,
  opts: ResolvedTarOptions,
): { entry: PlannedEntry | undefined; dir: string | undefined } {
  const st = statSync(src);
  if (dest === '') {
    if (!st.isDirectory())
      throw new RangeError(`cannot place the file ${src} at the layer root; give a destination path`);
    return { entry: undefined, dir: src };
  }
  const entry = entryFor(src, dest, st, opts);
  return { entry, dir: entry && st.isDirectory() ? src : undefined };
}

/**
 * Each entry directly inside host directory `dir`, at `dest/<name>`, told to `found` with the
 * host directory to descend into when it is one. Not recursive: the callers choose the order.
 */
export async function listDir(
  dir: string,
  dest: string,
  opts: ResolvedTarOptions,
  found: (entry: PlannedEntry, subdir: string | undefined) => void,
): Promise<void> {
  opts.signal?.throwIfAborted();
  for (const name of readdirSync(dir)) {
    if (turnDue()) await yieldTurn();
    const src = join(dir, name);
    const st = lstatSync(src);
    const entry = entryFor(src, dest === '' ? name : `${dest}/${name}`, st, opts);
    if (entry) found(entry, st.isDirectory() ? src : undefined);
  }
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
  const { entry, dir } = placeSource(src, dest, opts);
  if (entry) out.push(entry);
  if (dir) await walkDir(dir, dest, opts, out);
}

async function walkDir(
  dir: string,
  dest: string,
  opts: ResolvedTarOptions,
  out: PlannedEntry[],
): Promise<void> {
  const subdirs: [string, string][] = [];
  await listDir(dir, dest, opts, (entry, subdir) => {
    out.push(entry);
    if (subdir) subdirs.push([subdir, entry.path]);
  });
  for (const [src, childDest] of subdirs) await walkDir(src, childDest, opts, out);
}
