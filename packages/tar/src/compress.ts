import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { type Compression, type Digest, DigestHasher, layerMediaType } from '@pd/oci-types';
import { writeStreamToFile } from './batched-file.js';
import { gzipParallel } from './gzip-parallel.js';
import type { ProgressEvent } from './options.js';
import { streamChunks } from './stream-chunks.js';
import { zstdParallel } from './zstd.js';

/** What compressing a layer yields: blob digest and size, diffID, media type. */
export interface LayerInfo {
  /** Digest of the compressed bytes (the blob digest in a manifest). */
  digest: Digest;
  /** Size of the compressed bytes. */
  size: number;
  /** Digest of the uncompressed tar (the diffID in an image config). */
  diffId: Digest;
  /** Size of the uncompressed tar. */
  uncompressedSize: number;
  compression: Compression;
  /** The layer media type for a manifest, e.g. `application/vnd.oci.image.layer.v1.tar+gzip`. */
  mediaType: string;
}

/** Options of `compressLayer` and `writeLayerFile`. */
export interface CompressOptions {
  /** Default gzip; `'none'` passes the tar through (its digest is then its diffID). */
  compression?: Compression;
  /** gzip 1–9 (default 6), zstd 1–19 (default 3). */
  level?: number;
  /** Media type family for {@link LayerInfo.mediaType}; default 'oci'. */
  family?: 'oci' | 'docker';
  /** Aborts the compression: the stream fails with the signal's reason. */
  signal?: AbortSignal;
  /** Told the uncompressed bytes read so far (`phase: 'compress'`). */
  onProgress?: (e: ProgressEvent) => void;
}

function toBuffer(v: Uint8Array | string): Buffer {
  return typeof v === 'string'
    ? Buffer.from(v)
    : Buffer.isBuffer(v)
      ? v
      : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/**
 * Compress a tar in one pass, hashing it on the way in (diffID) and the output on the way out
 * (digest). `result` settles when `stream` has been read to the end (or failed); nothing
 * happens until the stream is read.
 */
export function compressLayer(
  tar: Readable | AsyncIterable<Uint8Array | string>,
  opts: CompressOptions = {},
): { stream: Readable; result: Promise<LayerInfo> } {
  const compression = opts.compression ?? 'gzip';
  if (compression !== 'gzip' && compression !== 'zstd' && compression !== 'none') {
    throw new RangeError(`unknown compression ${String(compression)}`);
  }
  let settle!: { resolve: (i: LayerInfo) => void; reject: (e: unknown) => void };
  const result = new Promise<LayerInfo>((resolve, reject) => {
    settle = { resolve, reject };
  });
  result.catch(() => undefined); // the stream reports the same error to whoever reads it

  const diff = new DigestHasher();
  const out = new DigestHasher();
  const { signal, onProgress } = opts;
  async function* input(): AsyncGenerator<Buffer> {
    for await (const raw of tar instanceof Readable ? streamChunks(tar) : tar) {
      signal?.throwIfAborted();
      const chunk = toBuffer(raw);
      diff.update(chunk);
      onProgress?.({ id: 'layer', phase: 'compress', done: diff.size });
      yield chunk;
    }
  }
  async function* run(): AsyncGenerator<Buffer> {
    let done = false;
    try {
      const level = opts.level;
      const body =
        compression === 'gzip'
          ? gzipParallel(input(), level === undefined ? {} : { level })
          : compression === 'zstd'
            ? zstdParallel(input(), level === undefined ? {} : { level })
            : input();
      // Uncompressed, the output is the input: hashed once, its digest is the diffID.
      const hashOut = compression !== 'none';
      for await (const chunk of body) {
        if (chunk.length === 0) continue;
        if (hashOut) out.update(chunk);
        yield chunk;
      }
      done = true;
      const diffId = diff.digest();
      settle.resolve({
        digest: hashOut ? out.digest() : diffId,
        size: hashOut ? out.size : diff.size,
        diffId,
        uncompressedSize: diff.size,
        compression,
        mediaType: layerMediaType(compression, opts.family ?? 'oci'),
      });
    } catch (e) {
      settle.reject(e);
      throw e;
    } finally {
      if (!done) settle.reject(new Error('layer stream was closed before its end'));
    }
  }
  return { stream: Readable.from(run(), { objectMode: false, highWaterMark: 1 << 20 }), result };
}

/**
 * Compress a tar into the file `path`, as `compressLayer` does. Written to a temporary file beside
 * `path` and renamed into place only when complete; on failure the temporary file is removed and
 * `path` is untouched.
 */
export async function writeLayerFile(
  tar: Readable | AsyncIterable<Uint8Array | string>,
  path: string,
  opts: CompressOptions = {},
): Promise<LayerInfo> {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`,
  );
  const { stream, result } = compressLayer(tar, opts);
  try {
    await writeStreamToFile(tmp, stream, opts.signal);
    const info = await result;
    await rename(tmp, path);
    return info;
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
