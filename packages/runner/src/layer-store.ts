import { randomBytes } from 'node:crypto';
import { readFileSync, type Stats } from 'node:fs';
import { lstat, mkdir, readdir, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import type { Layer } from '@pd/image';
import { mapLimit } from '@pd/internal';
import { createVerifier, type Digest, digestHex, isDigest } from '@pd/oci-types';
import type { LayerInput } from '@pd/tar';
import { UserNamespaceToolError } from './errors.js';
import type { ProgressEvent, RunnerEvent } from './options.js';
import { defaultCacheDir, isRoot, privateDir } from './paths.js';
import type { TarEntry } from './tar-writer.js';
import { runTool, which } from './tools.js';
import { idmapKey, removeTree, rootlessMode, runInUserNamespace, toContainerId } from './userns.js';

/**
 * What the store knows about one unpacked layer, kept in `meta.json` beside its files.
 *
 * Whiteouts are kept twice: as overlayfs reads them inside `fs/` (a 0/0 character device for a
 * deleted path, `trusted.overlay.opaque=y` on an opaque directory) when `overlay` is true, and
 * always as the lists below, which the copy assembler and the path lookup apply themselves.
 */
export interface LayerMeta {
  diffId: Digest;
  /** `fs/` can be used as an overlayfs lower directory as it is. */
  overlay: boolean;
  /** Paths (relative, `/`-separated) this layer deletes from the layers below. */
  whiteouts: string[];
  /** Directories whose lower content this layer hides. */
  opaques: string[];
  /** Bytes of file content and number of tar entries. */
  bytes: number;
  entries: number;
  /** Files given extended attributes from the layer (security.capability, user.*). */
  xattrFiles: number;
  /**
   * The rootless id mapping the files' owners were written for (see userns.ts), as
   * `uid:start:count/gid:start:count`; absent for root's store and single-id rootless ones. A
   * layer unpacked for another mapping is unpacked again.
   */
  idmap?: string;
  unpackedAt: string;
}

/** A layer unpacked in the store: where its files are, and its {@link LayerMeta}. */
export interface CachedLayer {
  /** The layer's diffID (digest of its uncompressed tar). */
  diffId: Digest;
  /** `<cache>/layers/sha256/<hex>`: holds `fs/` and `meta.json`. */
  dir: string;
  /** The layer's files. */
  fs: string;
  /** The contents of `meta.json`. */
  meta: LayerMeta;
}

/** Options of the {@link LayerStore} constructor. */
export interface LayerStoreOptions {
  /** pd's cache directory (default {@link defaultCacheDir}); layers live in `<cacheDir>/layers`. */
  cacheDir?: string;
  /**
   * Hash each layer's tar again while unpacking and refuse it unless it matches the diffID.
   * Default false: every @pd/image layer already verifies `uncompressed()` against its diffID as
   * it streams (the model's contract), and hashing twice costs a third of the unpack rate. Set
   * it for Layer implementations of your own that do not: the store trusts a diffID forever.
   */
  verify?: boolean;
  /** Receives an `unpack` or `cached` event for each layer, and `warning`s. */
  onLog?: (event: RunnerEvent) => void;
}

/** Options of {@link LayerStore.ensure} and {@link LayerStore.ensureAll}. */
export interface EnsureOptions {
  /** Aborts the unpacking (the half-unpacked layer is discarded). */
  signal?: AbortSignal;
  /** Unpacking progress (`phase: 'unpack'`) of each layer. */
  onProgress?: (event: ProgressEvent) => void;
}

/** Options of {@link LayerStore.prune} and {@link pruneLayers}. */
export interface PruneOptions {
  /** diffIDs never to remove. */
  keep?: Iterable<string>;
  /** Only remove layers unpacked longer ago than this many milliseconds. */
  olderThanMs?: number;
}

// Xattrs a layer may carry into the cache. trusted.* and user.overlay.* are refused: overlayfs
// would read them as its own metadata (opaque, redirect, metacopy), user.* in rootless mounts.
const KEPT_XATTR = /^(security\.capability|user\.(?!overlay\.))/;

/** An entry of a layer owned by someone else than root, to be given its owner in the user namespace. */
interface OwnedEntry {
  type: 'file' | 'directory' | 'symlink';
  uid: number;
  gid: number;
  mode: number;
}

/**
 * Unpacked layers by diffID, shared by every container: `layers/sha256/<hex>/{fs,meta.json}`.
 * A layer is unpacked into `layers/tmp/` and renamed into place only when complete, so readers
 * never see half a layer and concurrent processes may race safely (the loser discards its copy).
 */
export class LayerStore {
  readonly root: string;
  private readonly verify: boolean;
  private readonly onLog: ((event: RunnerEvent) => void) | undefined;
  private readonly pending = new Map<string, Promise<CachedLayer>>();
  private secured: Promise<void> | undefined;
  private swept: Promise<void> | undefined;

  constructor(options: LayerStoreOptions = {}) {
    this.root = join(options.cacheDir ?? defaultCacheDir(), 'layers');
    this.verify = options.verify ?? false;
    this.onLog = options.onLog;
  }

  /**
   * Make the store private to its owner (0700; see privateDir), once per instance: a store
   * created 0755 by an older pd is tightened on its first use.
   */
  private secure(): Promise<void> {
    if (!this.secured) {
      this.secured = privateDir(this.root);
      this.secured.catch(() => {
        this.secured = undefined;
      });
    }
    return this.secured;
  }

  /** Directory of a layer (whether or not it is unpacked). */
  dir(diffId: string): string {
    return join(this.root, 'sha256', hexOf(diffId));
  }

  /** The unpacked layer, or undefined when it is not in the store. */
  async get(diffId: string): Promise<CachedLayer | undefined> {
    const dir = this.dir(diffId);
    let text: string;
    try {
      // Synchronous, as the bundle's small files are (see prepareBundle in bundle.ts).
      text = readFileSync(join(dir, 'meta.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const meta = JSON.parse(text) as LayerMeta;
    return { diffId: meta.diffId, dir, fs: join(dir, 'fs'), meta };
  }

  async has(diffId: string): Promise<boolean> {
    try {
      await stat(join(this.dir(diffId), 'meta.json'));
      return true;
    } catch {
      return false;
    }
  }

  /** The layer unpacked, unpacking it first when the store lacks it. */
  ensure(layer: Layer, options: EnsureOptions = {}): Promise<CachedLayer> {
    return layer.diffId().then((diffId) => {
      let p = this.pending.get(diffId);
      if (!p) {
        p = this.ensureOnce(diffId, layer, options).finally(() => this.pending.delete(diffId));
        this.pending.set(diffId, p);
      }
      return p;
    });
  }

  /** All layers of an image, base first; missing ones are unpacked `concurrency` at a time. */
  async ensureAll(
    layers: Layer[],
    options: EnsureOptions & { concurrency?: number } = {},
  ): Promise<CachedLayer[]> {
    return mapLimit(layers, options.concurrency ?? 3, (layer) => this.ensure(layer, options));
  }

  private async ensureOnce(diffId: Digest, layer: Layer, options: EnsureOptions): Promise<CachedLayer> {
    await this.secure();
    let have = await this.get(diffId);
    if (have && (have.meta.idmap ?? '') !== (idmapKey() ?? '')) {
      // Unpacked for another id mapping (root's, or rootless before /etc/subuid had a range).
      const trash = join(
        this.root,
        'tmp',
        `${hexOf(diffId).slice(0, 16)}-stale-${randomBytes(4).toString('hex')}`,
      );
      await mkdir(join(this.root, 'tmp'), { recursive: true, mode: 0o700 });
      try {
        await rename(have.dir, trash);
        await removeTree(trash);
      } catch (e) {
        // Another process took the stale copy away first.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      have = undefined;
    }
    if (have) {
      this.onLog?.({ kind: 'cached', message: `layer ${short(diffId)} already unpacked`, diffId });
      return have;
    }
    return this.unpack(diffId, layer, options);
  }

  private async unpack(diffId: Digest, layer: Layer, options: EnsureOptions): Promise<CachedLayer> {
    const started = performance.now();
    const hex = hexOf(diffId);
    // A registry's layer comes into the blob cache first (socket to file, beside the other
    // layers' downloads), then unpacks from there (tarFile) through reused buffers: streamed
    // instead, a first `pd run` of an image of four 75 MB gzip layers took 1.82 s, against 1.39.
    // (@pd/image's layerSources holds the same rule for readers of a whole image at once.)
    await layer.fetch?.(options.signal ? { signal: options.signal } : {});
    // 0700 also when the store was removed since secure() ran: no moment where it is open.
    await mkdir(join(this.root, 'tmp'), { recursive: true, mode: 0o700 });
    await mkdir(join(this.root, 'sha256'), { recursive: true, mode: 0o700 });
    // Half-unpacked layers of a pd that was killed (they can be gigabytes) go on the next unpack,
    // not only on the next prune.
    this.swept ??= this.cleanTmp().catch(() => undefined);
    await this.swept;
    const tmp = join(
      this.root,
      'tmp',
      `${hex.slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`,
    );
    try {
      const fsDir = join(tmp, 'fs');
      await mkdir(fsDir, { recursive: true });
      const tar = await import('@pd/tar');
      const whiteouts: string[] = [];
      const opaques: string[] = [];
      const xattrFiles: Array<{ path: string; xattrs: Record<string, Buffer> }> = [];
      // Rootless with subordinate ids: the extraction runs as the caller, so owners are given
      // afterwards, in the user namespace (writeSpecialEntries).
      const idmap = idmapKey();
      const mapped = idmap !== undefined;
      // By path: the last entry of a path decides its owner, as it decided its content.
      const owned = new Map<string, OwnedEntry>();
      let dropped = 0;
      // A layer held in a local file (a layout's blob, an archive's member) is read from there
      // through reused buffers, checked as it is read (tarFile, or uncompressedFile of a Layer
      // that has only that).
      let input: LayerInput | undefined = (await layer.tarFile?.()) ?? (await layer.uncompressedFile?.());
      if (input === undefined) {
        const source = await layer.uncompressed({ ...(options.signal ? { signal: options.signal } : {}) });
        input = this.verify ? verified(source, diffId) : source;
      }
      const stats = await tar.extract(input, fsDir, {
        onUnsafe: 'throw',
        whiteouts: 'skip',
        chown: isRoot,
        devices: isRoot,
        specialModes: true,
        filter: (h) => {
          const wh = tar.whiteoutTarget(h.name);
          if (!wh) {
            if (
              mapped &&
              (h.uid !== 0 || h.gid !== 0) &&
              (h.type === 'file' || h.type === 'directory' || h.type === 'symlink')
            )
              owned.set(h.name.replace(/^(\.?\/)+|\/+$/g, ''), {
                type: h.type,
                uid: h.uid,
                gid: h.gid,
                mode: h.mode & 0o7777,
              });
            return true;
          }
          if (wh.kind === 'opaque') opaques.push(wh.dir);
          else whiteouts.push(wh.path);
          return false;
        },
        onXattrs: (path, xattrs) => {
          const kept = Object.fromEntries(Object.entries(xattrs).filter(([k]) => KEPT_XATTR.test(k)));
          dropped += Object.keys(xattrs).length - Object.keys(kept).length;
          if (Object.keys(kept).length > 0) xattrFiles.push({ path, xattrs: kept });
        },
        ...(options.signal ? { signal: options.signal } : {}),
        onProgress: (e) => options.onProgress?.({ id: diffId, phase: 'unpack', done: e.done }),
      });
      if (dropped > 0)
        this.onLog?.({
          kind: 'warning',
          message: `layer ${short(diffId)}: ${dropped} trusted.* or user.overlay.* xattrs ignored`,
        });

      let overlay = true;
      if (whiteouts.length > 0 || opaques.length > 0 || xattrFiles.length > 0 || owned.size > 0) {
        overlay = await this.writeSpecialEntries(
          diffId,
          await realpath(fsDir),
          whiteouts,
          opaques,
          xattrFiles,
          owned,
        );
        // Owners are part of the layer: without them a rootless container would see wrong files.
        if (!overlay && owned.size > 0)
          throw new UserNamespaceToolError(
            'tar',
            `layer ${short(diffId)}: its files could not be given their owners`,
          );
      }
      const meta: LayerMeta = {
        diffId,
        overlay,
        whiteouts,
        opaques,
        bytes: stats.bytes,
        entries: stats.entries,
        xattrFiles: overlay ? xattrFiles.length : 0,
        ...(idmap !== undefined ? { idmap } : {}),
        unpackedAt: new Date().toISOString(),
      };
      await writeFile(join(tmp, 'meta.json'), `${JSON.stringify(meta)}\n`);
      const dir = this.dir(diffId);
      try {
        await rename(tmp, dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        // Another process finished the same layer first: use its copy.
        const theirs = await this.get(diffId);
        if (theirs) return theirs;
        throw e;
      }
      const ms = performance.now() - started;
      this.onLog?.({
        kind: 'unpack',
        message: `unpacked layer ${short(diffId)}: ${stats.entries} entries, ${mb(stats.bytes)} in ${Math.round(ms)} ms`,
        diffId,
        bytes: stats.bytes,
        ms,
      });
      return { diffId, dir, fs: join(dir, 'fs'), meta };
    } finally {
      await removeTree(tmp);
    }
  }

  /**
   * Give the layer overlayfs' whiteouts, the xattrs Node cannot set and (rootless with
   * subordinate ids) its owners, through GNU tar: as root, or as root of the rootless user
   * namespace, where the opaque mark is `user.overlay.opaque` (mounted with `userxattr`). Returns
   * false when that is impossible (single-id rootless, no GNU tar, a whiteout below a symlink);
   * the layer is then assembled by copying, which applies the whiteout lists from meta.json itself.
   */
  private async writeSpecialEntries(
    diffId: Digest,
    root: string,
    whiteouts: string[],
    opaques: string[],
    xattrFiles: Array<{ path: string; xattrs: Record<string, Buffer> }>,
    owners: Map<string, OwnedEntry>,
  ): Promise<boolean> {
    const fail = (why: string) => {
      this.onLog?.({
        kind: 'warning',
        message: `layer ${short(diffId)}: not usable as an overlay lower directory (${why}); containers of it are copied`,
      });
      return false;
    };
    const mode = rootlessMode();
    const userns = mode?.kind === 'mapped' ? mode.map : undefined;
    if (!isRoot && !userns) return fail('device nodes and trusted.* xattrs need root');
    const tarBin = which('tar');
    if (!tarBin) return fail('GNU tar not found');
    const opaqueXattr = userns ? 'user.overlay.opaque' : 'trusted.overlay.opaque';

    const entries: TarEntry[] = [];
    const parents = new Map<string, Stats>();
    const dirXattrs = new Map<string, Record<string, Buffer>>();
    const entryFor = (name: string, st: Stats, extra: Partial<TarEntry>): TarEntry => {
      const owner = owners.get(name);
      return {
        name,
        type: 'directory',
        // Extracted by the caller, whom the namespace sees as root, unless the layer said otherwise.
        mode: owner ? owner.mode : st.mode & 0o7777,
        uid: owner ? owner.uid : userns ? (toContainerId(userns.uids, st.uid) ?? 0) : st.uid,
        gid: owner ? owner.gid : userns ? (toContainerId(userns.gids, st.gid) ?? 0) : st.gid,
        mtime: Math.floor(st.mtimeMs / 1000),
        ...extra,
      };
    };
    const fileEntry = async (rel: string, st: Stats, xattrs?: Record<string, Buffer>) => {
      const path = join(root, rel);
      entries.push(
        entryFor(rel, st, { type: 'file', ...(xattrs ? { xattrs } : {}), source: { path, size: st.size } }),
      );
      if (st.nlink > 1) entries.push(...(await sameInode(root, st, rel)));
    };
    for (const path of whiteouts) {
      const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      if (!(await realDirs(root, parent, parents)))
        return fail(`whiteout ${path} lies below a non-directory`);
      const existing = await lstatOr(join(root, path));
      if (existing) await rm(join(root, path), { recursive: true, force: true });
      entries.push({ name: path, type: 'whiteout', mode: 0, uid: 0, gid: 0, mtime: 0 });
    }
    for (const dir of opaques) {
      if (dir === '') continue; // the whole lower stack is hidden: the assembler drops it (rootfs.ts)
      if (!(await realDirs(root, dir, parents))) return fail(`opaque directory ${dir} is not a directory`);
    }
    const withFile = new Set<string>();
    for (const { path, xattrs } of xattrFiles) {
      const rel = path.slice(root.length + 1);
      const st = await lstatOr(path);
      if (!st || !path.startsWith(`${root}/`)) continue;
      if (st.isDirectory()) {
        dirXattrs.set(rel, xattrs);
        parents.set(rel, st);
      } else if (st.isFile()) {
        await fileEntry(rel, st, xattrs);
        withFile.add(rel);
      }
    }
    for (const [path, o] of owners) {
      if (path === '' || withFile.has(path)) continue;
      const st = await lstatOr(join(root, path));
      if (!st) continue;
      if (st.isDirectory() && o.type === 'directory') parents.set(path, st);
      else if (st.isFile() && o.type === 'file') await fileEntry(path, st);
      else if (st.isSymbolicLink() && o.type === 'symlink')
        entries.push(entryFor(path, st, { type: 'symlink', linkname: await readlink(join(root, path)) }));
    }
    const opaqueSet = new Set(opaques);
    // Directory entries come last: GNU tar sets their times after creating what lies in them,
    // so a directory that gained whiteouts keeps the mtime the layer gave it.
    for (const [rel, st] of parents) {
      if (rel === '') continue;
      const xattrs = { ...dirXattrs.get(rel) };
      if (opaqueSet.has(rel)) xattrs[opaqueXattr] = Buffer.from('y');
      entries.push(entryFor(rel, st, Object.keys(xattrs).length > 0 ? { xattrs } : {}));
    }
    try {
      const { writeTar } = await import('./tar-writer.js');
      const args = [
        '-x',
        '--xattrs',
        '--xattrs-include=*',
        '--overwrite',
        '--numeric-owner',
        '-p',
        '--same-owner',
        '-C',
        root,
        '-f',
        '-',
      ];
      if (userns) await runInUserNamespace(userns, [tarBin, ...args], writeTar(entries));
      else
        await runTool(tarBin, args, {
          input: writeTar(entries),
          failure: (stderr, err) => new Error(stderr.trim() || err.message),
        });
    } catch (e) {
      return fail(`tar: ${(e as Error).message}`);
    }
    return true;
  }

  /** Unpacked layers, in no particular order. */
  async list(): Promise<CachedLayer[]> {
    // `cache ls` and `prune` tighten an old store too, but never create one.
    if ((await lstatOr(this.root)) !== undefined) await this.secure();
    let names: string[];
    try {
      names = await readdir(join(this.root, 'sha256'));
    } catch {
      return [];
    }
    const out: CachedLayer[] = [];
    for (const hex of names) {
      const layer = await this.get(`sha256:${hex}`).catch(() => undefined);
      if (layer) out.push(layer);
    }
    return out;
  }

  /**
   * Remove unpacked layers, except those in `keep` and those a container still uses (running,
   * or kept because it ran without --rm: see `usedLayers`). Leftovers of interrupted unpacks go too.
   */
  async prune(options: PruneOptions & { inUse?: Iterable<string> } = {}): Promise<Digest[]> {
    const keep = new Set([...(options.keep ?? []), ...(options.inUse ?? [])].map(hexOf));
    const removed: Digest[] = [];
    const now = Date.now();
    for (const layer of await this.list()) {
      const hex = hexOf(layer.diffId);
      if (keep.has(hex)) continue;
      if (options.olderThanMs !== undefined && now - Date.parse(layer.meta.unpackedAt) < options.olderThanMs)
        continue;
      // Renamed away first, so no reader sees a half-removed layer.
      const trash = join(this.root, 'tmp', `${hex.slice(0, 16)}-deleted-${randomBytes(4).toString('hex')}`);
      await rename(layer.dir, trash);
      await removeTree(trash);
      removed.push(layer.diffId);
    }
    await this.cleanTmp();
    return removed;
  }

  /** Remove temporary directories whose process is gone. */
  private async cleanTmp(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(join(this.root, 'tmp'));
    } catch {
      return;
    }
    for (const name of names) {
      const pid = Number(name.split('-')[1]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) continue;
      if (pid === process.pid && this.pending.size > 0) continue;
      await removeTree(join(this.root, 'tmp', name)).catch(() => undefined);
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function hexOf(diffId: string): string {
  if (isDigest(diffId) && diffId.startsWith('sha256:')) return digestHex(diffId);
  if (/^[0-9a-f]{64}$/.test(diffId)) return diffId;
  throw new RangeError(`not a sha256 diffID: ${diffId}`);
}

const short = (d: string) => d.slice(7, 19);
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function verified(source: Readable, diffId: Digest): Readable {
  const v = createVerifier(diffId, { subject: `layer ${diffId}` });
  // pipeline() owns the error events; the reader of `v` sees a failure as its stream's error.
  pipeline(source, v, () => {});
  return v;
}

async function lstatOr(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Make `rel` and its parents real directories under `root` (creating missing ones, 0755), never
 * following a symlink; remember each one's metadata as it was. False when one is not a directory.
 */
async function realDirs(root: string, rel: string, seen: Map<string, Stats>): Promise<boolean> {
  let cur = '';
  for (const part of rel === '' ? [] : rel.split('/')) {
    cur = cur === '' ? part : `${cur}/${part}`;
    const known = seen.get(cur);
    if (known) continue;
    let st = await lstatOr(join(root, cur));
    if (!st) {
      await mkdir(join(root, cur), 0o755);
      st = await lstat(join(root, cur));
    }
    if (!st.isDirectory()) return false;
    seen.set(cur, st);
  }
  return true;
}

/** Hardlink entries re-creating the other names of an inode that GNU tar is about to replace. */
async function sameInode(root: string, st: Stats, name: string): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const d of await readdir(join(root, rel), { withFileTypes: true })) {
      const child = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory()) await walk(child);
      else if (d.isFile() && child !== name) {
        const s = await lstat(join(root, child));
        if (s.ino === st.ino && s.dev === st.dev)
          out.push({ name: child, type: 'link', linkname: name, mode: 0, uid: 0, gid: 0, mtime: 0 });
      }
    }
  };
  await walk('');
  return out;
}
