import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { docker } from '@pd/test-fixtures';

/** What docker's init layer adds to every container (mount points, /etc/mtab), not the image's. */
export const DOCKER_ONLY = new Set([
  '.dockerenv',
  'etc/hosts',
  'etc/hostname',
  'etc/resolv.conf',
  'etc/mtab',
  'dev',
  'proc',
  'sys',
]);

/**
 * Each entry of a tree, as `docker export` users see it: type, mode, owner, size, content hash,
 * symlink target. Hardlinks are compared by what they hold (content), and by which paths share
 * an inode, not by which member of a group the tar names first.
 */
export function describeEntries(
  root: string,
  skip: ReadonlySet<string> = DOCKER_ONLY,
): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<number, string[]>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      if (skip.has(path)) continue;
      const full = join(root, path);
      const st = lstatSync(full);
      const head = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out[path] = `dir ${head}`;
        walk(path);
      } else if (st.isSymbolicLink()) {
        out[path] = `symlink ${head} -> ${readlinkSync(full)}`;
      } else if (st.isFile()) {
        const hash = createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16);
        out[path] = `file ${head} ${st.size} ${hash}`;
        if (st.nlink > 1) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), path]);
      } else if (st.isFIFO()) {
        out[path] = `fifo ${head}`;
      } else {
        const kind = st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'other';
        out[path] = `${kind} ${head} ${Math.floor(st.rdev / 256)}:${st.rdev % 256}`;
      }
    }
  };
  walk('');
  for (const group of inodes.values()) for (const p of group) out[p] += ` linked with ${group.length - 1}`;
  return out;
}

/** Unpack a tar with GNU tar as root (owners and modes kept) into a new directory. */
export function unpack(tar: string, dir: string): Record<string, string> {
  mkdirSync(dir);
  execFileSync('tar', ['-xpf', tar, '-C', dir, '--same-owner', '--numeric-owner']);
  return describeEntries(dir);
}

/**
 * The filesystem of `image` as docker exports it (docker create, docker export, GNU tar as root),
 * unpacked into the new directory `dir` and described entry by entry.
 */
export async function dockerFilesystem(image: string, dir: string): Promise<Record<string, string>> {
  const id = (await docker(['create', image, 'true'])).stdout.trim();
  const tar = `${dir}.tar`;
  try {
    await docker(['export', '-o', tar, id]);
  } finally {
    await docker(['rm', '-f', id]);
  }
  return unpack(tar, dir);
}
