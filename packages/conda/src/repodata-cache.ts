import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { condaCacheDir } from './cache-dir.js';
import { ChannelError, describeNetworkError } from './errors.js';

interface CacheMeta {
  url: string;
  status: 200 | 404;
  etag?: string;
  lastModified?: string;
  /** Milliseconds since the epoch of the last answer from the server. */
  checkedAt: number;
}

/** Options of the {@link RepodataCache} constructor. */
export interface RepodataCacheOptions {
  /** Default `<pd cache>/conda/repodata`. */
  dir?: string;
  /** Use only what is cached; never ask the network. */
  offline?: boolean;
  /**
   * How long a 404 (a probe for `repodata_shards.msgpack.zst`, `.zst`, `.bz2` that the channel does
   * not offer) is believed before asking again. Default one hour.
   */
  negativeTtlMs?: number;
  /** Receives a note when a cached body is used because the channel did not answer. */
  onLog?: (message: string) => void;
}

/** How the requests of a {@link RepodataCache} were answered, counted since it was made. */
export interface RepodataCacheStats {
  /** Full downloads (200). */
  downloaded: number;
  /** Conditional requests answered 304: the cached body was used. */
  notModified: number;
  /** Answers given from the cache without any request (cached 404s, immutable shards, offline). */
  cached: number;
}

/** Shard files are named by their hash: once fetched they never change. */
function immutable(url: string): boolean {
  return /\/shards\/[0-9a-f]{16,}\.msgpack(\.zst)?$/.test(url);
}

/**
 * An HTTP cache for channel index files: bodies kept on disk with their ETag / Last-Modified and
 * revalidated with conditional requests, so that an unchanged repodata.json costs a 304.
 */
export class RepodataCache {
  readonly dir: string;
  readonly stats: RepodataCacheStats = { downloaded: 0, notModified: 0, cached: 0 };
  private readonly offline: boolean;
  private readonly negativeTtlMs: number;
  private readonly onLog: ((message: string) => void) | undefined;

  constructor(options: RepodataCacheOptions = {}) {
    this.dir = options.dir ?? join(condaCacheDir(), 'repodata');
    this.offline = options.offline ?? false;
    this.negativeTtlMs = options.negativeTtlMs ?? 3_600_000;
    this.onLog = options.onLog;
  }

  private paths(url: string): { meta: string; body: string } {
    const key = createHash('sha256').update(url).digest('hex').slice(0, 40);
    return { meta: join(this.dir, `${key}.json`), body: join(this.dir, `${key}.body`) };
  }

  private async readMeta(path: string): Promise<CacheMeta | undefined> {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as CacheMeta;
    } catch {
      return undefined;
    }
  }

  private async answer(status: number, bodyPath?: string): Promise<Response> {
    if (status !== 200 || !bodyPath) return new Response(null, { status: 404 });
    return new Response(await readFile(bodyPath), { status: 200 });
  }

  /** The response for `url`, from the cache when the server says it is current. */
  async get(url: string, fetchImpl: typeof fetch, signal?: AbortSignal): Promise<Response> {
    const paths = this.paths(url);
    const meta = await this.readMeta(paths.meta);
    const now = Date.now();
    if (meta) {
      const fresh =
        this.offline ||
        (meta.status === 404 && now - meta.checkedAt < this.negativeTtlMs) ||
        (meta.status === 200 && immutable(url));
      if (fresh) {
        this.stats.cached++;
        return this.answer(meta.status, paths.body).catch(() =>
          this.refetch(url, fetchImpl, paths, undefined, signal),
        );
      }
    } else if (this.offline) {
      throw new ChannelError(url, 'not in the repodata cache and offline mode is on');
    }
    return this.refetch(url, fetchImpl, paths, meta, signal);
  }

  private async refetch(
    url: string,
    fetchImpl: typeof fetch,
    paths: { meta: string; body: string },
    meta: CacheMeta | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (meta?.status === 200) {
      if (meta.etag) headers['if-none-match'] = meta.etag;
      if (meta.lastModified) headers['if-modified-since'] = meta.lastModified;
    }
    let res: Response;
    try {
      res = await fetchImpl(url, { headers, ...(signal ? { signal } : {}) });
    } catch (e) {
      if (meta?.status === 200) {
        this.onLog?.(`using cached ${url}: the channel did not answer (${(e as Error).message})`);
        this.stats.cached++;
        return this.answer(200, paths.body);
      }
      throw new ChannelError(url, describeNetworkError(e), undefined, e);
    }
    await mkdir(this.dir, { recursive: true });
    if (res.status === 304 && meta?.status === 200) {
      await res.body?.cancel();
      this.stats.notModified++;
      await this.writeMeta(paths.meta, { ...meta, checkedAt: Date.now() });
      return this.answer(200, paths.body);
    }
    if (res.status === 404) {
      await res.body?.cancel();
      await rm(paths.body, { force: true });
      await this.writeMeta(paths.meta, { url, status: 404, checkedAt: Date.now() });
      return new Response(null, { status: 404 });
    }
    if (res.status !== 200 || !res.body) return res;
    // Stream to a temp file and rename: a cut download never becomes the cached body.
    const tmp = `${paths.body}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(tmp));
      await rename(tmp, paths.body);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new ChannelError(url, (e as Error).message, 200, e);
    }
    this.stats.downloaded++;
    const next: CacheMeta = { url, status: 200, checkedAt: Date.now() };
    const etag = res.headers.get('etag');
    const lastModified = res.headers.get('last-modified');
    if (etag) next.etag = etag;
    if (lastModified) next.lastModified = lastModified;
    await this.writeMeta(paths.meta, next);
    return this.answer(200, paths.body);
  }

  private async writeMeta(path: string, meta: CacheMeta): Promise<void> {
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(meta));
    await rename(tmp, path);
  }
}
