import { chmod, type FileHandle, mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  pipeline as pipelineCb,
  type Readable,
  Transform,
  type TransformCallback,
  Writable,
} from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createVerifier,
  type Digest,
  DigestMismatchError,
  PdError,
  parseDigest,
  SizeMismatchError,
} from '@pd/oci-types';
import { BatchedFileWriter, readFileStream, writeStreamToFile } from '@pd/tar/file-io';
import { CacheMissError } from './errors.js';
import { processAlive } from './process-alive.js';

/**
 * The blob cache's directory: `$PD_CACHE_DIR`, else `$XDG_CACHE_HOME/pd`, else `~/.cache/pd`.
 * Read at call time, so a process (or a test) that sets the variable later still gets it.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PD_CACHE_DIR) return env.PD_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'pd');
  return join(homedir(), '.cache', 'pd');
}

/** A blob stored in a `BlobCache`, as `BlobCache.list` reports it. */
export interface CacheEntry {
  digest: Digest;
  /** Bytes on disk (the blob's size). */
  size: number;
  /** Last time pd stored or read the blob (its mtime: reads touch it). */
  lastUsed: Date;
  /** The blob's file (`<dir>/blobs/<alg>/<hex>`). */
  path: string;
}

/** Options of `BlobCache.prune`; with none set, only stale temp files are removed. */
export interface PruneOptions {
  /** Remove blobs unused for longer than this: milliseconds of age, or a cut-off date. */
  olderThan?: number | Date;
  /** Keep at most this many bytes, the most recently used blobs first; remove the rest. */
  keep?: number;
  /** Report what would be removed without removing it. */
  dryRun?: boolean;
}

/** What `BlobCache.prune` removed (or, with `dryRun`, would remove) and what it left. */
export interface PruneResult {
  /** The blobs removed, most recently used first. */
  removed: CacheEntry[];
  /** Bytes freed (or that would be, with `dryRun`). */
  freed: number;
  /** Bytes left in the cache. */
  kept: number;
}

/** Options of `BlobCache.open`. */
export interface OpenOptions {
  /**
   * Hash the bytes while they stream and fail at the end on a mismatch. Default: true, except for
   * blobs this instance stored itself (they were verified as they came in, moments ago).
   */
  verify?: boolean;
  /**
   * The size the caller's descriptor gives: a stored blob of another size is refused (the blob
   * matches its digest, so the descriptor lies, and the OCI spec says not to trust it).
   */
  size?: number;
  /** Aborts the read. */
  signal?: AbortSignal;
}

/**
 * Where `ingest` takes a blob from: a stream, opened only when the blob is absent, or a download
 * that writes the file itself (`toFile` creates `path`, verified against the digest and size, or
 * fails and leaves nothing there), which saves a registry client's socket-to-file path a stream.
 */
export type BlobSource =
  | (() => Readable | Promise<Readable>)
  | { toFile(path: string, signal?: AbortSignal): Promise<unknown> };

export interface IngestOptions {
  size?: number;
  signal?: AbortSignal;
  /**
   * The source checks digest and size itself and errors before it ends on a mismatch (a registry
   * client's blob stream does): the cache does not hash the bytes again.
   */
  sourceVerified?: boolean;
}

/**
 * A stored blob matches its digest, so a caller whose descriptor gives another size holds a lying
 * descriptor; the OCI spec says not to trust the content for it.
 */
function expectStoredSize(digest: string, expected: number | undefined, stored: number): void {
  if (expected !== undefined && expected !== stored)
    throw new SizeMismatchError(`blob ${digest}`, expected, stored);
}

/**
 * A cached blob failed its digest check (its bytes changed at rest) and could not be fetched
 * again. The copy is removed; the next command with a reachable source fetches it.
 */
export class CorruptBlobError extends PdError {
  readonly digest: string;
  readonly path: string;
  constructor(digest: string, path: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`cached blob ${digest} at ${path} was corrupt (removed), and fetching it again failed: ${why}`, {
      code: 'CACHE_CORRUPT',
      hint: 'run the command again once the registry is reachable',
      cause,
    });
    this.digest = digest;
    this.path = path;
  }
}

/**
 * Where the cache's warnings go when an instance has no `onWarning`: an application sets
 * `globalThis[Symbol.for('@pd/image/warn')]` (the CLI prints `pd: warning: ...`); else Node's
 * process warnings.
 */
const WARN_SLOT = Symbol.for('@pd/image/warn');
function defaultWarn(message: string): void {
  const hook = (globalThis as Record<symbol, unknown>)[WARN_SLOT];
  if (typeof hook === 'function') (hook as (m: string) => void)(message);
  else process.emitWarning(message, 'PdWarning');
}

/** Whether a stored file still hashes to its digest (and has `size` bytes). */
async function matchesDigest(
  file: string,
  digest: string,
  size: number,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    await pipeline(
      readFileStream(file),
      createVerifier(digest, { size }),
      new Writable({ write: (_chunk, _enc, cb) => cb() }),
      ...(signal ? [{ signal }] : []),
    );
    return true;
  } catch (e) {
    if (e instanceof DigestMismatchError || e instanceof SizeMismatchError) return false;
    throw e;
  }
}

/** Create `dir` (and missing parents) 0700; take group and other access away from one that exists. */
async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (((await stat(dir)).mode & 0o077) !== 0) await chmod(dir, 0o700);
}

/** Temp files older than this belong to a process that died; newer ones may be in use. */
const STALE_TEMP_MS = 24 * 3600_000;
const ALGORITHMS = ['sha256', 'sha512'] as const;

/**
 * A local content-addressed store of blobs (`<dir>/blobs/<alg>/<hex>`, as in an OCI layout) so
 * repeated pulls of shared layers cost nothing. Every write goes to a uniquely named temp file
 * under `<dir>/tmp` (same filesystem) and is renamed into place only after the bytes hashed to
 * the digest: a rename is atomic, so concurrent processes storing the same blob each write
 * their own temp file and the last rename wins with identical content. Readers never see a
 * partial blob.
 */
export class BlobCache {
  readonly dir: string;
  private ready: Promise<void> | undefined;
  private readonly inflight = new Map<string, Promise<string>>();
  /**
   * Blobs this instance stored itself, verified as they came in, or checked against their digest
   * (ingest): reading them back in the same process (an archive written right after a prefetch)
   * needs no second hash.
   */
  private readonly storedHere = new Set<string>();
  /** Where warnings go (a corrupt blob fetched again); default: see defaultWarn. */
  onWarning: ((message: string) => void) | undefined;

  constructor(dir: string = defaultCacheDir(), options: { onWarning?: (message: string) => void } = {}) {
    this.dir = dir;
    this.onWarning = options.onWarning;
  }

  /**
   * Whether this instance stored `digest` itself or checked its file against it (ingest, fetch):
   * its bytes were verified in this process, and a reader may skip hashing them again.
   */
  isChecked(digest: string): boolean {
    return this.storedHere.has(digest);
  }

  private warn(message: string): void {
    (this.onWarning ?? defaultWarn)(message);
  }

  private static readonly shared = new Map<string, BlobCache>();

  /** One instance per directory, for `defaultCacheDir()` as it is now. */
  static default(): BlobCache {
    const dir = defaultCacheDir();
    let c = BlobCache.shared.get(dir);
    if (!c) {
      c = new BlobCache(dir);
      BlobCache.shared.set(dir, c);
    }
    return c;
  }

  path(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, 'blobs', algorithm, hex);
  }

  private tempPath(label: string): string {
    return join(
      this.dir,
      'tmp',
      `${label.replace(/^.*:/, '').slice(0, 16)}-${process.pid}-${process.getBuiltinModule('node:crypto').randomUUID()}`,
    );
  }

  private ensureDirs(): Promise<void> {
    if (!this.ready) {
      this.ready = (async () => {
        // Owner only (0700), like docker's image store: blobs of private images are private, and
        // a cache an older pd made 0755 is tightened here, on first use.
        await privateDir(join(this.dir, 'tmp'));
        await privateDir(join(this.dir, 'blobs'));
        for (const a of ALGORITHMS) await mkdir(join(this.dir, 'blobs', a), { recursive: true, mode: 0o700 });
        await this.clearDeadTemps();
      })();
      this.ready.catch(() => {
        this.ready = undefined;
      });
    }
    return this.ready;
  }

  /** Size of a stored blob, or undefined when absent. */
  async size(digest: string): Promise<number | undefined> {
    try {
      const s = await stat(this.path(digest));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
    }
  }

  async has(digest: string): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  /**
   * A stored blob as a stream, verified against its digest by default: bytes at rest can rot,
   * and a blob that no longer matches is removed so that the next pull fetches it again. Blobs
   * this instance stored are not hashed again (see {@link OpenOptions.verify}).
   * Throws {@link CacheMissError} when absent.
   */
  async open(digest: string, opts: OpenOptions = {}): Promise<Readable> {
    const file = this.path(digest);
    const size = await this.size(digest);
    if (size === undefined) throw new CacheMissError(digest, this.dir);
    expectStoredSize(digest, opts.size, size);
    const now = new Date();
    await utimes(file, now, now).catch(() => undefined); // last use, for prune
    const input = readFileStream(file, { signal: opts.signal });
    if (opts.verify === false || (opts.verify === undefined && this.storedHere.has(digest))) return input;
    const verifier = createVerifier(digest, { size, subject: `cached blob ${digest} (${file})` });
    return pipelineCb(input, verifier, (err) => {
      if (err instanceof DigestMismatchError || err instanceof SizeMismatchError) {
        rm(file, { force: true }).catch(() => undefined);
      }
    });
  }

  /**
   * Store a blob of known digest from a source opened only when it is absent, and return its
   * path. A stored copy is checked against its digest first (once per instance): one whose bytes
   * rotted at rest is removed, a warning is given, and the source is opened to store it again
   * (CorruptBlobError when that fails). Concurrent calls for one digest share one download.
   */
  async ingest(digest: string, source: BlobSource, opts: IngestOptions = {}): Promise<string> {
    const final = this.path(digest);
    const stored = await this.size(digest);
    if (stored !== undefined) {
      expectStoredSize(digest, opts.size, stored);
      if (this.storedHere.has(digest)) return final;
    }
    let pending = this.inflight.get(digest);
    if (!pending) {
      pending = this.checkOrFetch(digest, stored, source, opts).finally(() => this.inflight.delete(digest));
      this.inflight.set(digest, pending);
    }
    return pending;
  }

  private async checkOrFetch(
    digest: string,
    stored: number | undefined,
    source: BlobSource,
    opts: IngestOptions,
  ): Promise<string> {
    const file = this.path(digest);
    if (stored === undefined) return this.ingestOnce(digest, source, opts);
    if (await matchesDigest(file, digest, stored, opts.signal)) {
      this.storedHere.add(digest);
      return file;
    }
    await rm(file, { force: true });
    this.warn(
      `cached blob ${digest} failed its digest check (its bytes changed on disk): removed; fetching it again`,
    );
    try {
      return await this.ingestOnce(digest, source, opts);
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new CorruptBlobError(digest, file, e);
    }
  }

  private async ingestOnce(digest: string, source: BlobSource, opts: IngestOptions): Promise<string> {
    await this.ensureDirs();
    const tmp = this.tempPath(digest);
    try {
      if (typeof source !== 'function') {
        await source.toFile(tmp, opts.signal);
        return this.settle(digest, tmp);
      }
      const input = await source();
      // A verified source fails itself before its end on a mismatch, so the rename below is
      // never reached; hashing it a second time here would only cost CPU.
      const checked = opts.sourceVerified
        ? input
        : pipelineCb(
            input,
            createVerifier(digest, { size: opts.size, subject: `blob ${digest}` }),
            () => undefined,
          );
      await writeStreamToFile(tmp, checked, opts.signal);
      return await this.settle(digest, tmp);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /** Move a verified temporary file into place; its path. */
  private async settle(digest: string, tmp: string): Promise<string> {
    const final = this.path(digest);
    await rename(tmp, final);
    this.storedHere.add(digest);
    return final;
  }

  /**
   * Store bytes whose digest is known only once they have all passed (a layer being built):
   * `digest` is awaited after the stream ended. Returns the digest.
   */
  async ingestComputed(
    stream: Readable,
    digest: Promise<Digest>,
    opts: { signal?: AbortSignal } = {},
  ): Promise<Digest> {
    // When the stream fails first, `digest` (settled by the same source) is never awaited: its
    // rejection must not become an unhandled one that kills the process.
    digest.catch(() => undefined);
    await this.ensureDirs();
    const tmp = this.tempPath('build');
    try {
      await writeStreamToFile(tmp, stream, opts.signal);
      const d = await digest;
      await rename(tmp, this.path(d));
      this.storedHere.add(d);
      return d;
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /**
   * Pass `source` through, verified against `digest`, and store a copy on the way: the copy is
   * renamed into place after the last byte verified and before the returned stream ends, so
   * a consumer that saw the end knows the blob is cached. A failed or abandoned stream leaves
   * nothing behind.
   */
  tee(digest: string, source: Readable, opts: { size?: number; sourceVerified?: boolean } = {}): Readable {
    const final = this.path(digest);
    const tmp = this.tempPath(digest);
    let handle: Promise<FileHandle> | undefined;
    let committed = false;
    const file = () => {
      if (!handle) {
        handle = this.ensureDirs().then(() => open(tmp, 'wx'));
        handle.catch(() => undefined); // seen by the write or flush that needs it, not unhandled meanwhile
      }
      return handle;
    };
    const storedHere = this.storedHere;
    let writer: BatchedFileWriter | undefined;
    const store = new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        // Chunks pass on at once; only a chunk that fills a batch waits for its write.
        writer ??= new BatchedFileWriter(file());
        const written = writer.write(chunk);
        if (written === undefined) return cb(null, chunk);
        written.then(
          () => cb(null, chunk),
          (e: unknown) => cb(e as Error),
        );
      },
      flush(cb: TransformCallback) {
        file()
          .then(async (fh) => {
            await writer?.flush();
            await fh.close();
          })
          .then(() => rename(tmp, final))
          .then(
            () => {
              committed = true;
              storedHere.add(digest);
              cb();
            },
            (e: unknown) => cb(e as Error),
          );
      },
      destroy(err, cb) {
        if (committed || !handle) return cb(err);
        handle
          .then((fh) => fh.close())
          .catch(() => undefined)
          .then(() => rm(tmp, { force: true }))
          .catch(() => undefined)
          .then(() => cb(err));
      },
    });
    if (opts.sourceVerified) return pipelineCb(source, store, () => undefined);
    const verifier = createVerifier(digest, { size: opts.size, subject: `blob ${digest}` });
    return pipelineCb(source, verifier, store, () => undefined);
  }

  async remove(digest: string): Promise<void> {
    this.storedHere.delete(digest);
    await rm(this.path(digest), { force: true });
  }

  /** Every stored blob with its size and last use, most recently used first. */
  async list(): Promise<CacheEntry[]> {
    // `pd cache ls` tightens a blob directory an older pd left open (it never creates one).
    if ((await stat(join(this.dir, 'blobs')).catch(() => undefined))?.isDirectory())
      await privateDir(join(this.dir, 'blobs'));
    const out: CacheEntry[] = [];
    for (const algorithm of ALGORITHMS) {
      const dir = join(this.dir, 'blobs', algorithm);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        const digest = `${algorithm}:${name}`;
        try {
          parseDigest(digest);
        } catch {
          continue; // not a blob of ours
        }
        try {
          const s = await stat(join(dir, name));
          if (s.isFile())
            out.push({ digest: digest as Digest, size: s.size, lastUsed: s.mtime, path: join(dir, name) });
        } catch {
          // removed meanwhile
        }
      }
    }
    return out.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime() || (a.digest < b.digest ? -1 : 1));
  }

  /**
   * Remove blobs unused since `olderThan` and, with `keep`, the least recently used ones beyond
   * that many bytes. Also clears temp files left by processes that died.
   */
  async prune(opts: PruneOptions = {}): Promise<PruneResult> {
    const entries = await this.list();
    const cutoff =
      opts.olderThan === undefined
        ? undefined
        : opts.olderThan instanceof Date
          ? opts.olderThan.getTime()
          : Date.now() - opts.olderThan;
    const removed: CacheEntry[] = [];
    let kept = 0;
    let freed = 0;
    for (const e of entries) {
      const old = cutoff !== undefined && e.lastUsed.getTime() < cutoff;
      const over = opts.keep !== undefined && kept + e.size > opts.keep;
      if (old || over) {
        removed.push(e);
        freed += e.size;
        if (!opts.dryRun) {
          this.storedHere.delete(e.digest);
          await rm(e.path, { force: true });
        }
      } else {
        kept += e.size;
      }
    }
    if (!opts.dryRun) await this.clearStaleTemps();
    return { removed, freed, kept };
  }

  /**
   * Remove the partial downloads of processes that died (killed mid-pull, they can be large): temp
   * names carry the writer's pid (tempPath). Run on an instance's first write. Best effort.
   */
  private async clearDeadTemps(): Promise<void> {
    const dir = join(this.dir, 'tmp');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const pid = Number(/^[^-]+-(\d+)-/.exec(name)?.[1]);
      if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || processAlive(pid)) continue;
      await rm(join(dir, name), { force: true }).catch(() => undefined);
    }
  }

  private async clearStaleTemps(): Promise<void> {
    const dir = join(this.dir, 'tmp');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    const limit = Date.now() - STALE_TEMP_MS;
    for (const name of names) {
      try {
        const s = await stat(join(dir, name));
        if (s.mtime.getTime() < limit) await rm(join(dir, name), { force: true });
      } catch {
        // gone meanwhile
      }
    }
  }
}
