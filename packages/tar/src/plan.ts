import type { TarHeader } from './header.js';
import { compareBytes, parentOf } from './names.js';

/** Where an entry's bytes come from when the tar is streamed. */
export type EntrySource = { kind: 'file'; path: string } | { kind: 'data'; data: Buffer } | { kind: 'none' };

/** One entry to write: its header (name without trailing slash), its data, and its inode for hardlinks. */
export interface PlannedEntry {
  /** Cleaned relative path, no trailing slash. */
  path: string;
  header: TarHeader;
  source: EntrySource;
  /** `dev:ino` of a host file with more than one link; equal inodes become tar hardlinks. */
  inode?: string;
}

/** The owner written into tar headers: numeric ids and user and group names. */
export interface Owner {
  uid: number;
  gid: number;
  uname: string;
  gname: string;
}

export const ROOT_OWNER: Owner = { uid: 0, gid: 0, uname: '', gname: '' };

/** A directory entry for a parent no source provides: 0755, the given owner and mtime. */
export function parentEntry(path: string, defaults: { mtime: number; owner: Owner }): PlannedEntry {
  const { owner, mtime } = defaults;
  return {
    path,
    source: { kind: 'none' },
    header: {
      name: `${path}/`,
      type: 'directory',
      mode: 0o755,
      uid: owner.uid,
      gid: owner.gid,
      uname: owner.uname,
      gname: owner.gname,
      size: 0,
      mtime,
      linkname: '',
      devmajor: 0,
      devminor: 0,
    },
  };
}

/**
 * Order entries by path bytes (parents sort before their children because a prefix sorts first),
 * add missing parent directories, and turn repeated inodes into hardlinks to the first path.
 * Deterministic in the entries alone: the order they were found in does not matter.
 */
export function finalizePlan(
  entries: Iterable<PlannedEntry>,
  parentDefaults: { mtime: number; owner: Owner },
): PlannedEntry[] {
  const byPath = new Map<string, PlannedEntry>();
  for (const e of entries) if (e.path !== '') byPath.set(e.path, e);
  for (const path of [...byPath.keys()]) {
    for (let p = parentOf(path); p !== '' && !byPath.has(p); p = parentOf(p)) {
      byPath.set(p, parentEntry(p, parentDefaults));
    }
  }
  const sorted = [...byPath.values()].sort((a, b) => compareBytes(a.path, b.path));
  const firstByInode = new Map<string, string>();
  for (const e of sorted) {
    e.header.name = e.header.type === 'directory' ? `${e.path}/` : e.path;
    if (e.inode === undefined || e.header.type === 'directory') continue;
    const first = firstByInode.get(e.inode);
    if (first === undefined) {
      firstByInode.set(e.inode, e.path);
      continue;
    }
    e.header = { ...e.header, type: 'link', linkname: first, size: 0 };
    e.source = { kind: 'none' };
  }
  return sorted;
}
