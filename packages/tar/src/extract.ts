import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  type Stats,
  symlinkSync,
  utimesSync,
  write,
  writeSync,
} from 'node:fs';
import { mkdir, realpath } from 'node:fs/promises';
import { promisify } from 'node:util';
import { FileSlice, keepLentChunk } from './batched-file.js';
import { decompress, type LayerInput, sliceTar } from './decompress.js';
import { TarFormatError, UnsafePathError } from './errors.js';
import type { TarHeader } from './header.js';
import { cleanComponents, parentOf } from './names.js';
import type { ProgressEvent } from './options.js';
import { parseTar } from './reader.js';
import { whiteoutTarget } from './whiteout.js';
import { type FileWrite, WriteThread } from './write-thread.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
/** New files get owner 0 and, in a directory without setgid, group 0. */
const rootCreds = process.geteuid?.() === 0 && process.getegid?.() === 0;
/** File chunks from this size on are written asynchronously (writeFile); smaller ones at once. */
const WRITE_BEHIND = 256 * 1024;
/** A file slice from this size on has its small files shared with a second thread (write-thread.ts). */
const WRITE_THREAD_MIN = 16 << 20;
const EMPTY = Buffer.alloc(0);
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Write all of `chunk` at `position` of `fd`, on the thread pool. (@pd/internal's writeFully
 * takes a FileHandle; the extractor opens its files synchronously, by descriptor.)
 */
function writeAt(fd: number, chunk: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const from = (off: number) =>
      write(fd, chunk, off, chunk.length - off, position + off, (e, n) => {
        if (e) reject(e);
        else if (off + n < chunk.length) from(off + n);
        else resolve();
      });
    from(0);
  });
}

const MAX_SYMLINK_HOPS = 40;

/** Options of `extract` and `applyLayers`. */
export interface ExtractOptions {
  /** `'throw'` (default) fails on the first unsafe entry; `'skip'` leaves it out and goes on. */
  onUnsafe?: 'throw' | 'skip';
  /**
   * `'apply'` (default): `.wh.x` deletes `x` from what is already in the directory, `.wh..wh..opq`
   * empties its directory of lower content. `'keep'` writes markers as plain files; `'skip'` drops them.
   */
  whiteouts?: 'apply' | 'keep' | 'skip';
  /** Create device nodes (root only) and fifos. Default false: they are skipped. */
  devices?: boolean;
  /** Keep setuid/setgid bits (only honoured when running as root). Default false. */
  specialModes?: boolean;
  /** Apply the entries' uid/gid (only honoured when running as root). Default false. */
  chown?: boolean;
  /** Set modification times from the archive. Default true. */
  mtime?: boolean;
  /**
   * Write the entries' extended attributes (e.g. `security.capability`), as umoci and docker do.
   * Node has no xattr calls, so each layer's attributes are written in one `setfattr --restore`
   * run (package `attr`) after the layer. Not as root only `user.*` ones are tried; what cannot
   * be written is counted in `stats.xattrsSkipped` and told to `onSkip`. Default false.
   */
  xattrs?: boolean;
  /** Called with each entry's extended attributes, whether or not `xattrs` writes them. */
  onXattrs?: (path: string, xattrs: Record<string, Buffer>, header: TarHeader) => void | Promise<void>;
  /** Return false to leave an entry out. */
  filter?: (header: TarHeader) => boolean;
  /** Told about every entry left out (unsafe with `onUnsafe: 'skip'`, devices, unknown types). */
  onSkip?: (header: TarHeader, reason: string) => void;
  /** Aborts between entries: the call rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Told the file bytes written so far, after each entry (`phase: 'extract'`). */
  onProgress?: (e: ProgressEvent) => void;
}

/** What `extract` and `applyLayers` did. */
export interface ExtractStats {
  /** Archive entries read (from every layer), skipped ones included. */
  entries: number;
  /** Bytes of regular files written. */
  bytes: number;
  /** Entries left out, each reported to `onSkip`. */
  skipped: number;
  /** Entries written whose extended attributes (with `xattrs: true`) could not be, each told to `onSkip`. */
  xattrsSkipped: number;
}

/** Extended attributes to write once their layer is extracted. */
interface PendingXattrs {
  header: TarHeader;
  attrs: [string, Buffer][];
}

interface DeferredDir {
  rel: string;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Write all of `chunk` at `position`. */
function writeAllSync(fd: number, chunk: Buffer, position: number): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off, position + off);
}

/** Run a create call (mkdir); false if something is at its path already. */
function tryCreate(create: () => void): boolean {
  try {
    create();
    return true;
  } catch (e) {
    if (errno(e) === 'EEXIST') return false;
    throw e;
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

let cachedUmask: number | undefined;
function umask(): number {
  if (cachedUmask === undefined) {
    try {
      cachedUmask = process.umask();
    } catch {
      cachedUmask = 0o022; // worker threads cannot read it
    }
  }
  return cachedUmask;
}

/**
 * Writes archive entries under one directory and never outside it. Paths are cleaned lexically;
 * every parent is resolved component by component with lstat, following symlinks only as if the
 * target directory were the filesystem root, and refusing any that lead above it. Final
 * components are never followed: whatever is there is removed and replaced, and files are
 * opened with O_EXCL|O_NOFOLLOW. Directories known to be real (created or checked by us) are
 * cached; anything we remove or replace is dropped from the cache with its descendants.
 *
 * Filesystem calls are synchronous: extraction is a sequence of small dependent syscalls, and
 * the promise API's threadpool round trip per call made it 4x slower than GNU tar on layers of
 * small files. Reading and decompressing the input stays asynchronous (zlib runs beside us), and
 * so do the writes of a big file's large chunks from a file slice (see writeFile). A large file
 * slice's small files are shared with a second thread that makes the calls this one decided
 * (write-thread.ts); this one waits for it before it touches a path the thread may be writing.
 */
export class Extractor {
  private readonly dirs = new Set<string>(['']);
  private readonly deferred = new Map<string, DeferredDir>();
  /** Real paths written by the layer being extracted (opaque whiteouts spare them). */
  private layerPaths = new Set<string>();
  /** The layer comes from a FileSlice: its chunks are pd's own, lent ones kept while written. */
  private writeBehind = false;
  /** The layer's small files go partly to this thread (a large file slice, more than one core). */
  private writer: WriteThread | undefined;
  readonly stats: ExtractStats = { entries: 0, bytes: 0, skipped: 0, xattrsSkipped: 0 };
  /** This layer's extended attributes, by real relative path; a path replaced or removed drops out. */
  private readonly xattrs = new Map<string, PendingXattrs>();
  /**
   * This layer's device nodes and fifos, made together at its end: Node has no mknod, and one
   * `mknod` process per node cost 10-20 ms each (a Debian base layer has eight).
   */
  private readonly nodes = new Map<string, PendingNode>();
  /**
   * Directories this extraction made, in the root or in one of these, the root being of group 0
   * without setgid: a file made in one as root is root's, group 0, before any chown (its mode is
   * 0755 until finish()). A file of a layer's root-owned majority there needs no fchown.
   */
  private readonly plainDirs: Set<string>;

  private constructor(
    readonly root: string,
    private readonly opts: ExtractOptions,
    rootPlain: boolean,
  ) {
    this.plainDirs = new Set(rootPlain ? [''] : []);
  }

  static async create(dir: string, opts: ExtractOptions = {}): Promise<Extractor> {
    await mkdir(dir, { recursive: true });
    const root = await realpath(dir);
    const st = lstatSync(root);
    // With setgid (or with the grpid mount option, by its group) files made in it take its group.
    return new Extractor(root, opts, (st.mode & 0o2000) === 0 && st.gid === 0);
  }

  /** `rel` was just made by mkdir. */
  private made(rel: string): void {
    if (this.plainDirs.has(parentOf(rel))) this.plainDirs.add(rel);
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  /** Drop `rel` and everything below it from the caches (it was removed or replaced). */
  private forget(rel: string): void {
    const below = `${rel}/`;
    for (const d of this.dirs) if (d === rel || d.startsWith(below)) this.dirs.delete(d);
    this.dirs.add('');
    for (const d of this.deferred.keys()) if (d === rel || d.startsWith(below)) this.deferred.delete(d);
    for (const d of this.plainDirs) if (d === rel || d.startsWith(below)) this.plainDirs.delete(d);
    for (const d of this.xattrs.keys()) if (d === rel || d.startsWith(below)) this.xattrs.delete(d);
    this.dropNodes(rel);
  }

  /** Pending nodes at or below `rel` are not made (removed or replaced before the layer's end). */
  private dropNodes(rel: string): void {
    const below = `${rel}/`;
    for (const d of this.nodes.keys()) if (d === rel || d.startsWith(below)) this.nodes.delete(d);
  }

  /**
   * The real relative path of the directory `components` name, creating missing directories.
   * Symlinks on the way are followed inside the root only.
   */
  private resolveDir(entry: string, components: string[]): string {
    // Entries come in directory order, so their parent is nearly always known already. (Cleaned
    // components hold no '', '.' or '..': a known path is the real one.)
    const whole = components.join('/');
    if (this.dirs.has(whole)) return whole;
    const resolved: string[] = [];
    const queue = [...components];
    let hops = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (resolved.length === 0)
          throw new UnsafePathError(entry, 'a symlink on its path leads outside the target');
        resolved.pop();
        continue;
      }
      const candidate = resolved.length === 0 ? c : `${resolved.join('/')}/${c}`;
      if (this.dirs.has(candidate)) {
        resolved.push(c);
        continue;
      }
      if (this.writer?.has(candidate)) this.settle();
      const st = lstatOrUndefined(this.abs(candidate));
      if (st === undefined) {
        try {
          mkdirSync(this.abs(candidate), 0o755);
        } catch (e) {
          if (errno(e) !== 'EEXIST') throw e;
          queue.unshift(c); // something appeared meanwhile: look again
          continue;
        }
        this.dirs.add(candidate);
        this.made(candidate);
        resolved.push(c);
        continue;
      }
      if (st.isDirectory()) {
        this.dirs.add(candidate);
        resolved.push(c);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) throw new UnsafePathError(entry, 'too many levels of symlinks');
        const target = readlinkSync(this.abs(candidate));
        if (target.startsWith('/')) resolved.length = 0;
        queue.unshift(...target.split('/'));
        continue;
      }
      throw new TarFormatError(`cannot extract "${entry}": "${candidate}" is not a directory`);
    }
    return resolved.join('/');
  }

  /** Split and clean an entry name; returns the real parent and the final name. */
  private locate(name: string): { parent: string; base: string; rel: string } | undefined {
    const parts = cleanComponents(name, name);
    const base = parts.pop();
    if (base === undefined) return undefined; // the root itself
    const parent = this.resolveDir(name, parts);
    return { parent, base, rel: parent === '' ? base : `${parent}/${base}` };
  }

  /** Remove whatever is at `rel` (not following it). */
  private remove(rel: string, st: Stats): void {
    if (st.isDirectory()) {
      this.settle(); // the thread may be writing below it
      rmSync(this.abs(rel), { recursive: true, force: true });
      this.forget(rel);
    } else {
      rmSync(this.abs(rel), { force: true });
      this.xattrs.delete(rel);
    }
  }

  private fileMode(mode: number): number {
    const special = this.opts.specialModes && isRoot ? 0o6000 : 0;
    return mode & (0o1777 | special);
  }

  /** Extract every entry of one layer (any compression). */
  async extract(input: LayerInput): Promise<void> {
    this.layerPaths = new Set();
    const { signal, onProgress } = this.opts;
    // The parser and this loop keep no chunk once they ask for the next: a file slice may lend them.
    this.writeBehind = input instanceof FileSlice;
    this.writer =
      input instanceof FileSlice && input.size >= WRITE_THREAD_MIN ? WriteThread.open() : undefined;
    const bytes = input instanceof FileSlice ? sliceTar(input, true) : decompress(input);
    try {
      for await (const { header, body, rest } of parseTar(bytes)) {
        signal?.throwIfAborted();
        this.stats.entries++;
        if (this.opts.filter && !this.opts.filter(header)) {
          this.skip(header, 'filtered out');
          continue;
        }
        try {
          await this.entry(header, body, rest);
        } catch (e) {
          if (e instanceof UnsafePathError && this.opts.onUnsafe === 'skip') {
            this.skip(header, e.reason);
            continue;
          }
          throw e;
        }
        onProgress?.({ id: 'extract', phase: 'extract', done: this.stats.bytes });
      }
      this.settle();
    } finally {
      // Failed or not, nothing of this layer is written once the call is over.
      this.writer?.close();
      this.writer = undefined;
    }
    await this.makeNodes();
    // Per layer: a later layer that replaces a file must not get this layer's attributes.
    await this.writeXattrs();
  }

  private skip(header: TarHeader, reason: string): void {
    this.stats.skipped++;
    this.opts.onSkip?.(header, reason);
  }

  private async entry(
    header: TarHeader,
    body: AsyncIterable<Buffer>,
    rest: () => Buffer | undefined,
  ): Promise<void> {
    const whiteouts = this.opts.whiteouts ?? 'apply';
    // A whiteout's name holds `.wh.`; most names have none and skip both tests.
    if (header.name.includes('.wh.')) {
      const wh = whiteoutTarget(header.name);
      if (wh !== undefined || /(^|\/)\.wh\.[^/]*\/?$/.test(header.name)) {
        if (whiteouts === 'skip') return;
        if (whiteouts === 'apply') {
          if (wh === undefined) throw new UnsafePathError(header.name, 'malformed whiteout');
          this.whiteout(header.name, wh);
          return;
        }
      }
    }
    const loc = this.locate(header.name);
    if (loc === undefined) {
      if (header.type === 'directory') this.deferDir('', header);
      return;
    }
    const { rel } = loc;
    const path = this.abs(rel);
    // A later entry at the same path comes after the thread's write of it.
    if (this.writer?.has(rel)) this.settle();
    // A later entry at the same path replaces a node still to be made.
    this.nodes.delete(rel);
    switch (header.type) {
      case 'directory': {
        // A directory this extraction made or found stays one (every removal forgets it): no
        // lstat. Else made, and looked at only if something is there already.
        if (!this.dirs.has(rel)) {
          let made = tryCreate(() => mkdirSync(path, 0o755));
          if (!made) {
            const st = lstatOrUndefined(path);
            if (st && !st.isDirectory()) this.remove(rel, st);
            if (!st?.isDirectory()) {
              mkdirSync(path, 0o755);
              made = true;
            }
          }
          if (made) this.made(rel);
        }
        this.dirs.add(rel);
        this.deferDir(rel, header);
        break;
      }
      case 'file':
        await this.writeFile(rel, path, header, body, rest);
        break;
      case 'symlink': {
        this.replacing(rel, () => symlinkSync(header.linkname, path));
        if (this.opts.chown && isRoot) lchownSync(path, header.uid, header.gid);
        if (this.opts.mtime !== false) lutimesSync(path, header.mtime, header.mtime);
        break;
      }
      case 'link': {
        this.settle(); // the target may be a file the thread is writing
        const target = this.locate(header.linkname);
        if (target === undefined) throw new UnsafePathError(header.name, 'hardlink to the root directory');
        // A hardlink to a node of this layer: make the pending nodes now.
        if (this.nodes.has(target.rel)) await this.makeNodes();
        const tst = lstatOrUndefined(this.abs(target.rel));
        if (tst === undefined)
          throw new TarFormatError(`hardlink "${header.name}" points to missing "${header.linkname}"`);
        if (tst.isDirectory()) throw new UnsafePathError(header.name, 'hardlink to a directory');
        if (target.rel === rel) break;
        this.replacing(rel, () => linkSync(this.abs(target.rel), path));
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const device = header.type !== 'fifo';
        if (!this.opts.devices || (device && !isRoot)) {
          this.skip(
            header,
            device ? 'device nodes need { devices: true } and root' : 'fifos need { devices: true }',
          );
          return;
        }
        this.clear(rel);
        this.nodes.set(rel, {
          kind: header.type === 'fifo' ? 'p' : header.type === 'character-device' ? 'c' : 'b',
          mode: this.fileMode(header.mode) & 0o777,
          major: header.devmajor ?? 0,
          minor: header.devminor ?? 0,
          uid: header.uid,
          gid: header.gid,
        });
        break;
      }
      default:
        this.skip(header, `unsupported entry type "${header.typeflag ?? header.type}"`);
        return;
    }
    this.layerPaths.add(rel);
    // The entry replaced whatever was at rel (with a hardlink: shares its inode and attributes).
    if (header.type !== 'link') this.xattrs.delete(rel);
    if (!header.xattrs) return;
    if (this.opts.xattrs) {
      // Not as root, trusted.* and security.* need capabilities the process lacks.
      const attrs = Object.entries(header.xattrs).filter(([name]) => isRoot || name.startsWith('user.'));
      if (attrs.length > 0) this.xattrs.set(rel, { header, attrs });
      if (attrs.length < Object.keys(header.xattrs).length) {
        this.skipXattrs(header, 'trusted.* and security.* ones need root');
      }
    }
    if (this.opts.onXattrs) await this.opts.onXattrs(path, header.xattrs, header);
  }

  /** Make the layer's pending device nodes and fifos: one shell for them all, then their owners. */
  private async makeNodes(): Promise<void> {
    if (this.nodes.size === 0) return;
    const pending = [...this.nodes.entries()];
    this.nodes.clear();
    // Paths go in as arguments, never into the script's text.
    const args = pending.flatMap(([rel, n]) => [
      n.mode.toString(8),
      this.abs(rel),
      n.kind,
      String(n.major),
      String(n.minor),
    ]);
    await promisify(process.getBuiltinModule('node:child_process').execFile)('sh', [
      '-c',
      MKNOD_SCRIPT,
      'pd-mknod',
      ...args,
    ]);
    if (this.opts.chown && isRoot) for (const [rel, n] of pending) lchownSync(this.abs(rel), n.uid, n.gid);
  }

  private skipXattrs(header: TarHeader, reason: string): void {
    this.stats.xattrsSkipped++;
    this.opts.onSkip?.(header, `extended attributes not written: ${reason}`);
  }

  /**
   * Write the layer's pending attributes: one `setfattr --restore` for all (no symlinks followed;
   * every path was resolved inside the root and dropped if later replaced); when that run reports
   * a failure, entry by entry to tell which ones the filesystem refused.
   */
  private async writeXattrs(): Promise<void> {
    if (this.xattrs.size === 0) return;
    const pending = [...this.xattrs.entries()];
    this.xattrs.clear();
    const dump = (items: typeof pending) =>
      items
        .map(([rel, p]) => {
          const lines = p.attrs.map(
            ([name, value]) => `${escapeAttrText(name)}=0s${value.toString('base64')}`,
          );
          return `# file: ${escapeAttrText(this.abs(rel))}\n${lines.join('\n')}\n`;
        })
        .join('\n');
    try {
      await setfattr(dump(pending));
      return;
    } catch (e) {
      if (errno(e) === 'ENOENT') {
        for (const [, p] of pending) this.skipXattrs(p.header, 'setfattr not found (apt-get install attr)');
        return;
      }
    }
    for (const item of pending) {
      try {
        await setfattr(dump([item]));
      } catch (e) {
        const stderr = String((e as { stderr?: string }).stderr ?? '').trim();
        this.skipXattrs(item[1].header, stderr.split('\n')[0]?.replace(/^setfattr: /, '') || String(e));
      }
    }
  }

  private deferDir(rel: string, header: TarHeader): void {
    this.deferred.set(rel, {
      rel,
      mode: this.fileMode(header.mode),
      mtime: header.mtime,
      uid: header.uid,
      gid: header.gid,
    });
  }

  /** Make room at `rel` for a non-directory. */
  private clear(rel: string): void {
    const st = lstatOrUndefined(this.abs(rel));
    if (st) this.remove(rel, st);
  }

  /**
   * Make a non-directory at `rel` with `create` (open O_EXCL, symlink, link): tried first, and
   * only if something is in the way (EEXIST) is it removed and `create` run again.
   */
  private replacing<T>(rel: string, create: () => T): T {
    try {
      return create();
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
      this.clear(rel);
      return create();
    }
  }

  /**
   * Wait for the write thread's files (before touching a path it may still write, or removing
   * anything) and make those it could not, here, where their error is raised.
   */
  private settle(): void {
    if (!this.writer?.busy) return;
    for (const w of this.writer.settle()) this.writeNow(w);
  }

  /** A file's write at `rel` (`path`): its mode when made, what to set after (the bytes come later). */
  private fileWrite(rel: string, path: string, header: TarHeader): FileWrite {
    const mode = this.fileMode(header.mode);
    // Made with its mode where the umask leaves it whole and chown cannot clear a bit of it (no
    // setuid, setgid or sticky), as GNU tar does: no fchmod after. Else 0600 until chown is done.
    const created = (mode & 0o7000) === 0 && (mode & umask()) === 0 ? mode : 0o600;
    // Made just now (O_EXCL): where it is root's and group 0 already, so it stays.
    const owned = rootCreds && header.uid === 0 && header.gid === 0 && this.plainDirs.has(parentOf(rel));
    const chown = this.opts.chown === true && isRoot && !owned;
    return {
      rel,
      path,
      data: EMPTY,
      created,
      uid: chown ? header.uid : -1,
      gid: chown ? header.gid : -1,
      // After chown, which clears setuid bits.
      chmod: mode !== (created & ~umask()) ? mode : -1,
      mtime: this.opts.mtime !== false ? header.mtime : undefined,
    };
  }

  /** Owner, mode and time of a file just written, as `w` says. */
  private attributes(fd: number, w: FileWrite): void {
    if (w.uid >= 0) fchownSync(fd, w.uid, w.gid);
    if (w.chmod >= 0) fchmodSync(fd, w.chmod);
    if (w.mtime !== undefined) futimesSync(fd, w.mtime, w.mtime);
  }

  /** Open the new file `w` for writing, replacing what is in its way. */
  private create(w: FileWrite): number {
    return this.replacing(w.rel, () => openSync(w.path, CREATE_FLAGS, w.created));
  }

  /** Make the file `w` with its bytes, here and now. */
  private writeNow(w: FileWrite): void {
    const fd = this.create(w);
    try {
      writeAllSync(fd, w.data, 0);
      this.attributes(fd, w);
    } finally {
      closeSync(fd);
    }
  }

  private async writeFile(
    rel: string,
    path: string,
    header: TarHeader,
    body: AsyncIterable<Buffer>,
    rest: () => Buffer | undefined,
  ): Promise<void> {
    const w = this.fileWrite(rel, path, header);
    // A small file whose data is at hand is written now: no promise per chunk (most files of a
    // distribution's layer are a few KiB), by the write thread when it takes it.
    const whole = header.size < WRITE_BEHIND ? rest() : undefined;
    if (whole !== undefined) {
      this.stats.bytes += whole.length;
      w.data = whole;
      // Not where a directory is known: replacing one is this thread's (writeNow, then clear).
      if (!this.dirs.has(rel) && header.xattrs === undefined && this.writer?.offer(w, keepLentChunk)) return;
      this.writeNow(w);
      return;
    }
    const fd = this.create(w);
    // A large chunk is written on the thread pool while the next is read, hashed and parsed
    // here, one write at a time, each at its own offset: `pd export` of a docker archive (317 MB
    // in four big files, 2 cores) took 0.38-0.40 s writing each chunk before the next, 0.31-0.34 s
    // so. Only for a file slice's chunks, whose memory is pd's (kept while written, see
    // keepLentChunk): a caller's iterable may reuse a chunk's memory once the next is asked for.
    let behind: Promise<void> | undefined;
    let at = 0;
    try {
      for await (const chunk of body) {
        const position = at;
        at += chunk.length;
        this.stats.bytes += chunk.length;
        if (this.writeBehind && chunk.length >= WRITE_BEHIND) {
          await behind;
          behind = writeAt(fd, chunk, position);
          // The chunk may be lent (an uncompressed layer): its memory is not read into meanwhile.
          keepLentChunk(chunk, behind);
          continue;
        }
        writeAllSync(fd, chunk, position);
      }
      await behind;
      this.attributes(fd, w);
    } finally {
      // Never close a descriptor a write still uses (its number could be reused meanwhile).
      if (behind) await behind.catch(() => undefined);
      closeSync(fd);
    }
  }

  private whiteout(name: string, wh: NonNullable<ReturnType<typeof whiteoutTarget>>): void {
    this.settle();
    if (wh.kind === 'opaque') {
      const dir = this.resolveDir(name, wh.dir === '' ? [] : wh.dir.split('/'));
      this.clearLower(dir);
      this.layerPaths.add(dir);
      return;
    }
    const loc = this.locate(wh.path);
    if (loc === undefined) return;
    this.dropNodes(loc.rel);
    const st = lstatOrUndefined(this.abs(loc.rel));
    if (st) this.remove(loc.rel, st);
  }

  /** Remove what lower layers put in `dir`, sparing what the current layer wrote. */
  private clearLower(dir: string): void {
    for (const n of readdirSync(this.abs(dir))) {
      const rel = dir === '' ? n : `${dir}/${n}`;
      if (this.layerPaths.has(rel)) {
        if (lstatSync(this.abs(rel)).isDirectory()) this.clearLower(rel);
        continue;
      }
      rmSync(this.abs(rel), { recursive: true, force: true });
      this.forget(rel);
    }
  }

  /** Apply directory modes, owners and times, deepest first (so a read-only parent comes last). */
  async finish(): Promise<ExtractStats> {
    const dirs = [...this.deferred.values()].sort((a, b) => b.rel.length - a.rel.length);
    for (const d of dirs) {
      const path = this.abs(d.rel);
      // Replaced later in the stream (a known directory is one still, see the directory case).
      if (!this.dirs.has(d.rel) && !lstatOrUndefined(path)?.isDirectory()) continue;
      if (this.opts.chown && isRoot) chownSync(path, d.uid, d.gid);
      chmodSync(path, d.mode);
      if (this.opts.mtime !== false) utimesSync(path, d.mtime, d.mtime);
    }
    this.deferred.clear();
    return this.stats;
  }
}

/** A device node or fifo to make at the end of its layer. */
interface PendingNode {
  kind: 'c' | 'b' | 'p';
  mode: number;
  major: number;
  minor: number;
  uid: number;
  gid: number;
}

/** mknod for each group of five arguments: mode, path, kind, major, minor. */
const MKNOD_SCRIPT = `set -e
while [ $# -ge 5 ]; do
  if [ "$3" = p ]; then mknod -m "$1" "$2" p; else mknod -m "$1" "$2" "$3" "$4" "$5"; fi
  shift 5
done`;

/** Run `setfattr -h --restore=-` on a getfattr-style dump. */
function setfattr(dump: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = process
      .getBuiltinModule('node:child_process')
      .execFile('setfattr', ['-h', '--restore=-'], { timeout: 600_000 }, (err, _out, stderr) => {
        if (err) reject(Object.assign(err, { stderr }));
        else resolve();
      });
    child.stdin?.end(dump);
  });
}

/** getfattr's quoting: bytes other than printable ASCII (and `\\`, `=`, space) as `\\ooo`. */
function escapeAttrText(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out +=
      b > 0x20 && b < 0x7f && b !== 0x5c && b !== 0x3d
        ? String.fromCharCode(b)
        : `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/**
 * Extract a layer (gzip, zstd or plain tar) into `dir`, safely: nothing outside `dir` is ever
 * created, changed or followed. Unsafe entries throw {@link UnsafePathError} (or are skipped with
 * `onUnsafe: 'skip'`). Whiteouts are applied against what `dir` already holds.
 */
export async function extract(
  input: LayerInput,
  dir: string,
  opts: ExtractOptions = {},
): Promise<ExtractStats> {
  const x = await Extractor.create(dir, opts);
  await x.extract(input);
  return x.finish();
}

/** A layer given directly, or opened on demand (so that only one is open at a time). */
export type LayerSource = LayerInput | (() => LayerInput | Promise<LayerInput>);

/**
 * Apply a stack of layers, lowest first, to `dir` with overlay semantics. Later layers replace
 * earlier content, `.wh.` markers delete it, opaque markers hide a directory's lower content but
 * not what the same layer adds. Extraction is as safe as {@link extract}'s.
 */
export async function applyLayers(
  dir: string,
  layers: LayerSource[],
  opts: Omit<ExtractOptions, 'whiteouts'> = {},
): Promise<ExtractStats> {
  const x = await Extractor.create(dir, { ...opts, whiteouts: 'apply' });
  for (const layer of layers) {
    await x.extract(typeof layer === 'function' ? await layer() : layer);
  }
  return x.finish();
}
