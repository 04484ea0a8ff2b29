import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { missingTools } from './tools.js';

/** The static busybox of Debian's busybox-static: runs in any rootfs, needs no libc. */
export const BUSYBOX = '/usr/bin/busybox';

/** Skip reason when no busybox is installed, else undefined. */
export function busyboxMissing(): string | undefined {
  return missingTools('busybox');
}

/** Applets linked into /bin: enough for shell scripts, `id`, file checks and sleeping containers. */
export const APPLETS: readonly string[] = (
  '[ ash basename cat chmod chown cp cut date dirname du echo env false find grep gunzip gzip head ' +
  'hostname id kill ln ls md5sum mkdir mv printf ps pwd readlink rm rmdir sed seq sh sha256sum sleep ' +
  'sort stat tail tar tee test touch tr true uname wc whoami xargs yes'
).split(' ');

/** Users and groups of the rootfs; `app` is also a member of `staff` (a supplementary group). */
export const ROOTFS_USERS = {
  root: { uid: 0, gid: 0, home: '/root' },
  app: { uid: 1000, gid: 1000, home: '/home/app' },
} as const;
export const ROOTFS_GROUPS = { root: 0, staff: 50, app: 1000 } as const;

export const ROOTFS_PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n';
export const ROOTFS_GROUP = 'root:x:0:\nstaff:x:50:app\napp:x:1000:\n';

export type ExtraFile =
  | string
  | Uint8Array
  | { data: string | Uint8Array; mode?: number; uid?: number; gid?: number };

export interface RootfsOptions {
  /** More files, by absolute path in the rootfs; parent directories are created (root, 0755). */
  extraFiles?: Record<string, ExtraFile>;
  /** mtime of every entry in the tar form, in seconds (default 0: the tar is reproducible). */
  mtime?: number;
}

/** One entry of the rootfs, in tar order (parents first). Paths are relative, without a leading /. */
export type RootfsEntry =
  | { type: 'directory'; path: string; mode: number; uid: number; gid: number }
  | { type: 'file'; path: string; mode: number; uid: number; gid: number; data: Uint8Array }
  | { type: 'copy'; path: string; mode: number; uid: number; gid: number; source: string }
  | { type: 'symlink'; path: string; target: string };

const DIRS: Array<[string, number, number?]> = [
  ['bin', 0o755],
  ['dev', 0o755],
  ['etc', 0o755],
  ['home', 0o755],
  ['home/app', 0o755, 1000],
  ['proc', 0o555],
  ['root', 0o700],
  ['sys', 0o555],
  ['tmp', 0o1777],
  ['usr', 0o755],
  ['usr/bin', 0o755],
  ['usr/local', 0o755],
  ['usr/local/bin', 0o755],
  ['var', 0o755],
];

/** The entries of the busybox rootfs, extra files last (they may replace a default file). */
export function busyboxRootfsEntries(options: RootfsOptions = {}): RootfsEntry[] {
  const entries: RootfsEntry[] = DIRS.map(([path, mode, owner]) => ({
    type: 'directory',
    path,
    mode,
    uid: owner ?? 0,
    gid: owner ?? 0,
  }));
  entries.push({ type: 'copy', path: 'bin/busybox', mode: 0o755, uid: 0, gid: 0, source: BUSYBOX });
  for (const applet of APPLETS) entries.push({ type: 'symlink', path: `bin/${applet}`, target: 'busybox' });
  const text = (path: string, data: string): RootfsEntry => ({
    type: 'file',
    path,
    mode: 0o644,
    uid: 0,
    gid: 0,
    data: Buffer.from(data),
  });
  entries.push(text('etc/passwd', ROOTFS_PASSWD), text('etc/group', ROOTFS_GROUP));

  const known = new Set(entries.map((e) => e.path));
  for (const [abs, spec] of Object.entries(options.extraFiles ?? {})) {
    const path = abs.replace(/^\/+/, '');
    if (!path || path.split('/').includes('..')) throw new Error(`bad extra file path: ${abs}`);
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!known.has(parent)) {
        entries.push({ type: 'directory', path: parent, mode: 0o755, uid: 0, gid: 0 });
        known.add(parent);
      }
    }
    const file = typeof spec === 'string' || spec instanceof Uint8Array ? { data: spec } : spec;
    const data = typeof file.data === 'string' ? Buffer.from(file.data) : file.data;
    const replaced = entries.findIndex((e) => e.path === path);
    if (replaced >= 0) entries.splice(replaced, 1);
    entries.push({
      type: 'file',
      path,
      mode: file.mode ?? 0o644,
      uid: file.uid ?? 0,
      gid: file.gid ?? 0,
      data,
    });
    known.add(path);
  }
  return entries;
}

/**
 * Write a minimal busybox root filesystem into `dir` (created if needed) and return `dir`.
 * Owners (uid 1000 for /home/app) are applied only when running as root; modes always.
 */
export async function busyboxRootfs(dir: string, options: RootfsOptions = {}): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  await mkdir(dir, { recursive: true });
  for (const entry of busyboxRootfsEntries(options)) {
    const target = join(dir, entry.path);
    if (entry.type === 'symlink') {
      await symlink(entry.target, target);
      continue;
    }
    if (entry.type === 'directory') await mkdir(target, { recursive: true });
    else if (entry.type === 'copy') await copyFile(entry.source, target);
    else await writeFile(target, entry.data);
    // chmod after creation: the umask would otherwise drop the sticky and group/other bits.
    await chmod(target, entry.mode);
    if (asRoot) await chown(target, entry.uid, entry.gid);
  }
  return dir;
}

/**
 * Write the busybox rootfs as an uncompressed tar (tar-stream, fixed mtime, numeric owners) to
 * `file`. Unlike the directory form, owners are right without root, so `docker import` of it
 * gives the same image everywhere.
 */
export async function busyboxRootfsTar(file: string, options: RootfsOptions = {}): Promise<void> {
  const mtime = new Date((options.mtime ?? 0) * 1000);
  const tar = pack();
  await mkdir(dirname(file), { recursive: true });
  const written = pipeline(tar, createWriteStream(file));
  for (const entry of busyboxRootfsEntries(options)) {
    if (entry.type === 'symlink') {
      tar.entry({ name: entry.path, type: 'symlink', linkname: entry.target, mode: 0o777, mtime });
      continue;
    }
    const header = { name: entry.path, mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime };
    // Directories end in '/' as in GNU and Docker tars.
    if (entry.type === 'directory') tar.entry({ ...header, name: `${entry.path}/`, type: 'directory' });
    else if (entry.type === 'file') tar.entry({ ...header, type: 'file' }, Buffer.from(entry.data));
    else {
      const { size } = await lstat(entry.source);
      const sink = tar.entry({ ...header, type: 'file', size });
      await pipeline(createReadStream(entry.source), sink);
    }
  }
  tar.finalize();
  await written;
}
