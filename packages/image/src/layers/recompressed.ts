import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Compression, type Digest, layerMediaType, parseDigest } from '@pd/oci-types';
import { BlobCache } from '../cache.js';
import { VERIFIED_STREAMS } from '../formats/verified-stream.js';
import { tar as loadTar } from '../lazy-tar.js';
import type { Layer, StreamOptions } from '../model.js';
import { verifiedUncompressed } from './stream.js';

/** Options of a `RecompressedLayer`; `signal` and `onProgress` apply to its one encoding pass. */
export interface RecompressOptions extends StreamOptions {
  /** Where the new blob is stored (default: the shared cache of `defaultCacheDir()`). */
  cache?: BlobCache;
  /** Media type family of the result (default oci). */
  family?: 'oci' | 'docker';
}

interface Encoded {
  digest: Digest;
  size: number;
}

/**
 * A layer re-encoded: the tar of `source`, compressed as `compression` (an uncompressed layer
 * gzipped for a push, a zstd layer made gzip for `docker load`). Its diffID is the source's;
 * nothing is read until the digest, the size or the bytes are asked for. Then the source's tar
 * (verified against its diffID) is compressed once into the blob cache, deterministically, so the
 * same tar always gives the same blob; the streams come from the cache. What a tar became is
 * remembered beside the cache (`recoded/`), so that pushing the same archive again compresses
 * nothing while the blob is cached: the registry then skips it by digest.
 */
export class RecompressedLayer implements Layer {
  readonly [VERIFIED_STREAMS] = true as const;
  readonly location = undefined;
  private encoded: Promise<Encoded> | undefined;
  private readonly cache: BlobCache;

  constructor(
    readonly source: Layer,
    readonly compression: Compression,
    private readonly opts: RecompressOptions = {},
  ) {
    this.cache = opts.cache ?? BlobCache.default();
  }

  /** Where the digest and size of this tar's encoding are remembered. */
  private memoPath(diffId: Digest): string {
    const { algorithm, hex } = parseDigest(diffId);
    return join(this.cache.dir, 'recoded', `${algorithm}-${hex}.${this.compression}.json`);
  }

  /** A remembered encoding whose blob is still cached with its size; anything else is recomputed. */
  private async remembered(diffId: Digest): Promise<Encoded | undefined> {
    try {
      const memo = JSON.parse(await readFile(this.memoPath(diffId), 'utf8')) as Partial<Encoded>;
      if (typeof memo.digest !== 'string' || typeof memo.size !== 'number') return undefined;
      parseDigest(memo.digest);
      return (await this.cache.size(memo.digest)) === memo.size ? (memo as Encoded) : undefined;
    } catch {
      return undefined;
    }
  }

  private async remember(diffId: Digest, encoded: Encoded): Promise<void> {
    const path = this.memoPath(diffId);
    await mkdir(join(this.cache.dir, 'recoded'), { recursive: true, mode: 0o700 });
    // Small and idempotent: a torn write reads as invalid JSON, which is recomputed.
    await writeFile(path, JSON.stringify(encoded), { mode: 0o600 }).catch(() => undefined);
  }

  private encode(): Promise<Encoded> {
    this.encoded ??= (async () => {
      const { signal, onProgress } = this.opts;
      const id = await this.source.diffId();
      const known = await this.remembered(id);
      if (known) return known;
      const tar = await verifiedUncompressed(this.source, signal ? { signal } : {});
      const { stream, result } = (await loadTar()).compressLayer(tar, {
        compression: this.compression,
        ...(signal ? { signal } : {}),
        ...(onProgress ? { onProgress: (e) => onProgress({ id, phase: 'build', done: e.done }) } : {}),
      });
      const digest = await this.cache.ingestComputed(
        stream,
        result.then((i) => i.digest),
        signal ? { signal } : {},
      );
      const encoded = { digest, size: (await result).size };
      await this.remember(id, encoded);
      return encoded;
    })();
    // A failed attempt may be retried by the next question.
    this.encoded.catch(() => {
      this.encoded = undefined;
    });
    return this.encoded;
  }

  async digest(): Promise<Digest> {
    return (await this.encode()).digest;
  }
  diffId(): Promise<Digest> {
    return this.source.diffId();
  }
  async size(): Promise<number> {
    return (await this.encode()).size;
  }
  async mediaType(): Promise<string> {
    return layerMediaType(this.compression, this.opts.family ?? 'oci');
  }
  /** None: the source's annotations describe its blob (a zstd:chunked table of contents, say), not this one. */
  async annotations(): Promise<Record<string, string> | undefined> {
    return undefined;
  }
  async localPath(): Promise<string | undefined> {
    const { digest } = await this.encode();
    return (await this.cache.has(digest)) ? this.cache.path(digest) : undefined;
  }
  async compressed(opts: StreamOptions = {}): Promise<Readable> {
    const { digest, size } = await this.encode();
    return this.cache.open(digest, { size, ...(opts.signal ? { signal: opts.signal } : {}) });
  }
  uncompressed(opts: StreamOptions = {}): Promise<Readable> {
    return verifiedUncompressed(this, opts);
  }
}
