import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fileURLToPath } from 'node:url';
import { mapLimit } from '@pd/internal';
import { condaCacheDir } from './cache-dir.js';
import { ChannelError, PackageChecksumError } from './errors.js';
import type { ProgressEvent } from './progress.js';
import type { CondaPackageRecord } from './record.js';

/** Options of {@link PackageCache.fetch}. */
export interface FetchOptions {
  signal?: AbortSignal;
  /** `download` progress, or `cached` when the archive is already there. */
  onProgress?: (e: ProgressEvent) => void;
  /** Receives a warning for a package the channel gives no checksum for. */
  onLog?: (message: string) => void;
}

type Checked = Pick<CondaPackageRecord, 'filename' | 'url' | 'sha256' | 'md5' | 'size'>;

/** The checksum a package is verified with: sha256 when the channel gives it, else md5. */
function expectedDigest(r: Checked): { algorithm: 'sha256' | 'md5'; hex: string } | undefined {
  if (r.sha256) return { algorithm: 'sha256', hex: r.sha256.toLowerCase() };
  if (r.md5) return { algorithm: 'md5', hex: r.md5.toLowerCase() };
  return undefined;
}

/**
 * Downloaded package archives (`<dir>/<checksum>/<filename>`), verified while they stream and
 * renamed into place only when the checksum matched, so whatever is in the cache can be reused
 * by later builds without hashing it again.
 */
export class PackageCache {
  readonly dir: string;
  constructor(dir: string = join(condaCacheDir(), 'pkgs')) {
    this.dir = dir;
  }

  /** Where the archive of `record` lives (whether or not it is there yet). */
  path(record: Checked): string {
    const d = expectedDigest(record);
    return join(this.dir, d ? `${d.algorithm}-${d.hex}` : 'unverified', record.filename);
  }

  async has(record: Checked): Promise<boolean> {
    const st = await stat(this.path(record)).catch(() => undefined);
    if (!st?.isFile()) return false;
    // Unverified entries are never trusted: refetched every time.
    if (!expectedDigest(record)) return false;
    return record.size === undefined || st.size === record.size;
  }

  /** The cached archive of `record`, downloaded (and verified) first when missing. */
  async fetch(record: Checked, options: FetchOptions = {}): Promise<string> {
    const target = this.path(record);
    if (await this.has(record)) {
      options.onProgress?.({
        id: record.filename,
        label: record.filename,
        phase: 'cached',
        done: record.size ?? 0,
      });
      return target;
    }
    const want = expectedDigest(record);
    if (!want) options.onLog?.(`${record.filename}: the channel gives no checksum; it is used unverified`);
    const dir = join(target, '..');
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${record.filename}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    const hash = createHash(want?.algorithm ?? 'sha256');
    let done = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        done += chunk.length;
        options.onProgress?.({
          id: record.filename,
          label: record.filename,
          phase: 'download',
          done,
          ...(record.size === undefined ? {} : { total: record.size }),
        });
        cb(null, chunk);
      },
    });
    try {
      const source = await openSource(record.url, options.signal);
      await pipeline(
        source,
        meter,
        createWriteStream(tmp, { flags: 'wx' }),
        options.signal ? { signal: options.signal } : {},
      );
      const actual = hash.digest('hex');
      if (want && actual !== want.hex)
        throw new PackageChecksumError(record.filename, want.algorithm, want.hex, actual);
      await rename(tmp, target);
      return target;
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }
}

async function openSource(url: string, signal: AbortSignal | undefined): Promise<Readable> {
  if (url.startsWith('file:')) {
    const path = fileURLToPath(url);
    await stat(path).catch((e: unknown) => {
      throw new ChannelError(url, 'no such file', undefined, e);
    });
    return createReadStream(path);
  }
  let res: Response;
  try {
    res = await fetch(url, signal ? { signal } : {});
  } catch (e) {
    throw new ChannelError(url, (e as Error).message, undefined, e);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new ChannelError(url, `HTTP ${res.status}`, res.status);
  }
  return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
}

/** Options of {@link fetchPackages}. */
export interface FetchPackagesOptions extends FetchOptions {
  /** Default: a cache in `<conda cache>/pkgs`. */
  cache?: PackageCache;
  /** Downloads at once. Default 4. */
  concurrency?: number;
}

/** Fetch every package into the cache, `concurrency` at a time; returns the archive paths in input order. */
export async function fetchPackages(
  records: Checked[],
  options: FetchPackagesOptions = {},
): Promise<string[]> {
  const cache = options.cache ?? new PackageCache();
  // settle: the first failure is thrown once the downloads in flight have ended.
  return mapLimit(records, options.concurrency ?? 4, (record) => cache.fetch(record, options), {
    settle: true,
  });
}

/** Small helpers for sidecar JSON next to cached data. */
export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, path);
}
