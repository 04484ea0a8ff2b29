import { execFile } from 'node:child_process';
import { constants, type Stats } from 'node:fs';
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ToolNotFoundError } from './errors.js';
import { kernelHasOverlay } from './kernel.js';
import type { CachedLayer } from './layer-store.js';
import type { RootfsMode } from './options.js';
import { isRoot } from './paths.js';
import { which } from './tools.js';
import { rootlessMode } from './userns.js';

const execFileP = promisify(execFile);

/** overlayfs takes its options in one page; longer lower-directory lists do not mount. */
export const OVERLAY_OPTIONS_MAX = 4000;

export type RootfsPlan =
  | {
      mode: 'overlay';
      /** Directory the lower directories are relative to (mount runs there, to keep options short). */
      base: string;
      /** Mount options: `lowerdir=<top>:...:<base>,upperdir=...,workdir=...`. */
      options: string;
      /** Where the overlay is mounted (the bundle's rootfs directory). */
      target: string;
      reason: string;
    }
  | { mode: 'copy'; target: string; hardlinks: boolean; reason: string };

/** The layers that matter: an opaque root in a layer hides everything below it. */
export function visibleLayers(layers: CachedLayer[]): CachedLayer[] {
  for (let i = layers.length - 1; i > 0; i--)
    if (layers[i]!.meta.opaques.includes('')) return layers.slice(i);
  return layers;
}

/**
 * Decide how to assemble the root filesystem of `bundleDir` from `layers` (base first). overlay
 * needs root, the kernel module, unshare and mount, and layers whose whiteouts are in overlay form.
 */
export function planRootfs(
  layers: CachedLayer[],
  bundleDir: string,
  opts: { mode?: RootfsMode | 'auto'; readOnly?: boolean; layersBase: string },
): RootfsPlan {
  const target = join(bundleDir, 'rootfs');
  const copy = (reason: string): RootfsPlan => ({
    mode: 'copy',
    target,
    hardlinks: opts.readOnly === true,
    reason,
  });
  const wanted = opts.mode ?? 'auto';
  if (wanted === 'copy') return copy('asked for');
  const why = overlayObstacle(layers, bundleDir, opts.layersBase);
  if (typeof why === 'string') {
    if (wanted === 'overlay')
      throw new ToolNotFoundError('overlayfs', `mount the rootfs (${why})`, 'util-linux');
    return copy(why);
  }
  return { mode: 'overlay', base: opts.layersBase, options: why.options, target, reason: why.reason };
}

function overlayObstacle(
  layers: CachedLayer[],
  bundleDir: string,
  base: string,
): string | { options: string; reason: string } {
  // Rootless with subordinate ids, the runtime mounts the overlay inside the container's user
  // namespace (Linux 5.11+), where overlayfs keeps its marks in user.overlay.* xattrs.
  const userns = !isRoot && rootlessMode()?.kind === 'mapped';
  if (!isRoot && !userns) return 'not root: overlayfs cannot be mounted outside a user namespace';
  if (!kernelHasOverlay()) return 'the kernel has no overlay filesystem';
  if (!userns && (!which('unshare') || !which('mount'))) return 'unshare or mount (util-linux) not found';
  const notReady = layers.find((l) => !l.meta.overlay);
  if (notReady) return `layer ${notReady.diffId.slice(7, 19)} has whiteouts overlayfs cannot read`;
  const visible = visibleLayers(layers);
  // Lower directories relative to the layer store, top-most first.
  const lowers =
    visible.length === 0 ? [join(bundleDir, 'empty')] : visible.map((l) => relativeTo(base, l.fs)).reverse();
  const paths = [...lowers, join(bundleDir, 'upper'), join(bundleDir, 'work')];
  if (paths.some((p) => /[,:\\\n]/.test(p)))
    return 'a cache path contains "," ":" or "\\", which overlay options cannot carry';
  const options = `lowerdir=${lowers.join(':')},upperdir=${join(bundleDir, 'upper')},workdir=${join(bundleDir, 'work')}${userns ? ',userxattr' : ''}`;
  if (options.length > OVERLAY_OPTIONS_MAX)
    return `${visible.length} layers do not fit overlayfs' mount options`;
  return { options, reason: `${visible.length} cached layers as lower directories` };
}

function relativeTo(base: string, path: string): string {
  return path.startsWith(`${base}/`) ? path.slice(base.length + 1) : path;
}

/** The plan's options with absolute lower directories (for a mount made from another directory). */
export function absoluteOverlayOptions(plan: Extract<RootfsPlan, { mode: 'overlay' }>): string {
  return plan.options.replace(
    /^lowerdir=([^,]*)/,
    (_, lowers: string) =>
      `lowerdir=${lowers
        .split(':')
        .map((p) => (p.startsWith('/') ? p : join(plan.base, p)))
        .join(':')}`,
  );
}

/** Mount an overlay plan on the host (for bundles handed to other tools); `unmountRootfs` undoes it. */
export async function mountOverlay(plan: Extract<RootfsPlan, { mode: 'overlay' }>): Promise<void> {
  const mount = which('mount');
  if (!mount) throw new ToolNotFoundError('mount', 'mount the rootfs', 'mount');
  await execFileP(mount, ['-t', 'overlay', 'overlay', '-o', plan.options, plan.target], { cwd: plan.base });
}

export async function unmountRootfs(target: string): Promise<void> {
  const umount = which('umount');
  if (!umount) return;
  await execFileP(umount, [target]).catch(() => undefined);
}

// --- copy assembly ------------------------------------------------------------------------------

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
}

/**
 * Build `target` by copying the layers over each other with overlay semantics: a layer's
 * whiteouts delete, its opaque directories are emptied, then its entries replace whatever lies
 * at their path (a directory merges into a directory; anything else is replaced). Files are
 * reflinked where the filesystem can (`COPYFILE_FICLONE`), else copied; with `hardlinks` they
 * are linked to the cache, which only a read-only root filesystem may do. Nothing in `target` is
 * ever followed: every path is checked with lstat on the way down.
 */
export async function copyLayers(
  layers: CachedLayer[],
  target: string,
  opts: { hardlinks: boolean },
): Promise<void> {
  await mkdir(target, { recursive: true });
  const dirs = new Map<string, DirMeta>();
  const pool = new Pool(32);
  for (const layer of visibleLayers(layers)) {
    for (const p of layer.meta.whiteouts) await removeInside(target, p);
    for (const d of layer.meta.opaques) await emptyInside(target, d);
    const links = new Map<string, string>();
    await copyDir(layer.fs, target, '', dirs, links, pool, opts.hardlinks);
    await pool.drain();
  }
  const ordered = [...dirs].sort(([a], [b]) => b.length - a.length);
  for (const [rel, m] of ordered) {
    const p = rel === '' ? target : join(target, rel);
    if (!(await lstatOr(p))?.isDirectory()) continue; // removed by a later layer
    if (isRoot) await lchown(p, m.uid, m.gid);
    await chmod(p, m.mode);
    await utimes(p, m.atime, m.mtime);
  }
}

async function lstatOr(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch {
    return undefined;
  }
}

/** The real path of `rel` under `root` when every parent is a real directory, else undefined. */
async function insidePath(root: string, rel: string): Promise<string | undefined> {
  const parts = rel.split('/').filter((p) => p !== '');
  let cur = root;
  for (const part of parts.slice(0, -1)) {
    cur = join(cur, part);
    const st = await lstatOr(cur);
    if (!st?.isDirectory()) return undefined;
  }
  return parts.length === 0 ? root : join(cur, parts[parts.length - 1]!);
}

async function removeInside(root: string, rel: string): Promise<void> {
  const p = await insidePath(root, rel);
  if (p && p !== root) await rm(p, { recursive: true, force: true });
}

async function emptyInside(root: string, rel: string): Promise<void> {
  const p = await insidePath(root, rel);
  if (!p) return;
  const st = await lstatOr(p);
  if (!st?.isDirectory()) return;
  for (const name of await readdir(p)) await rm(join(p, name), { recursive: true, force: true });
}

async function copyDir(
  srcRoot: string,
  dstRoot: string,
  rel: string,
  dirs: Map<string, DirMeta>,
  links: Map<string, string>,
  pool: Pool,
  hardlinks: boolean,
): Promise<void> {
  const src = rel === '' ? srcRoot : join(srcRoot, rel);
  const st = await lstat(src);
  dirs.set(rel, {
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    atime: st.atimeMs / 1000,
    mtime: st.mtimeMs / 1000,
  });
  for (const entry of await readdir(src, { withFileTypes: true })) {
    const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
    const from = join(srcRoot, childRel);
    const to = join(dstRoot, childRel);
    const have = await lstatOr(to);
    if (entry.isDirectory()) {
      if (have && !have.isDirectory()) await rm(to, { force: true });
      if (!have?.isDirectory()) await mkdir(to);
      await copyDir(srcRoot, dstRoot, childRel, dirs, links, pool, hardlinks);
      continue;
    }
    const s = await lstat(from);
    if (s.isCharacterDevice() && s.rdev === 0) continue; // an overlay whiteout, applied from meta.json
    if (have) await rm(to, { recursive: true, force: true });
    await pool.run(() => copyEntry(from, to, s, links, hardlinks));
  }
}

async function copyEntry(from: string, to: string, s: Stats, links: Map<string, string>, hardlinks: boolean) {
  if (s.isSymbolicLink()) {
    await symlink(await readlink(from), to);
    if (isRoot) await lchown(to, s.uid, s.gid);
    await lutimes(to, s.atimeMs / 1000, s.mtimeMs / 1000);
    return;
  }
  if (s.isFile()) {
    if (hardlinks) {
      await link(from, to);
      return;
    }
    // Files that were one inode in the layer stay one inode in the copy.
    const key = `${s.dev}:${s.ino}`;
    const first = s.nlink > 1 ? links.get(key) : undefined;
    if (first) {
      await link(first, to);
      return;
    }
    if (s.nlink > 1) links.set(key, to);
    await copyFile(from, to, constants.COPYFILE_FICLONE);
    if (isRoot) await lchown(to, s.uid, s.gid);
    await chmod(to, s.mode & 0o7777); // after chown, which clears setuid bits
    await utimes(to, s.atimeMs / 1000, s.mtimeMs / 1000);
    return;
  }
  // Device nodes and fifos: only root can make devices; mknod is the portable way from Node.
  if (!isRoot && !s.isFIFO()) return;
  const kind = s.isFIFO() ? 'p' : s.isCharacterDevice() ? 'c' : 'b';
  const dev =
    kind === 'p'
      ? []
      : [String(Math.floor(s.rdev / 256) & 0xfff), String((s.rdev & 0xff) | ((s.rdev >> 12) & 0xfff00))];
  await execFileP('mknod', ['-m', (s.mode & 0o7777).toString(8), to, kind, ...dev]);
  if (isRoot) await lchown(to, s.uid, s.gid);
}

/** At most `limit` file copies in flight (the libuv pool does the work). */
class Pool {
  private active = 0;
  private waiting: Array<() => void> = [];
  private failed: unknown;
  private readonly all = new Set<Promise<void>>();
  constructor(private readonly limit: number) {}

  async run(task: () => Promise<void>): Promise<void> {
    if (this.failed) throw this.failed;
    while (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    const p = task()
      .catch((e) => {
        this.failed ??= e;
      })
      .finally(() => {
        this.active--;
        this.all.delete(p);
        this.waiting.shift()?.();
      });
    this.all.add(p);
  }

  async drain(): Promise<void> {
    while (this.all.size > 0) await Promise.all([...this.all]);
    if (this.failed) throw this.failed;
  }
}
