import { open } from 'node:fs/promises';
import { PassThrough, type Readable, Transform, type TransformCallback } from 'node:stream';
import { type Compression, type Digest, DigestHasher, digestStream, layerMediaType } from '@pd/oci-types';
import type { Contents, PathPair, TarFilter, TarOptions } from '@pd/tar';
import { readFileStream } from '@pd/tar/file-io';
import { BlobCache } from '../cache.js';
import { tar as loadTar } from '../lazy-tar.js';
import type { Layer, StreamOptions } from '../model.js';
import { KnownLayer } from './known.js';

/** Options of the layer builders: compression, tar metadata and where the blob is stored. */
export interface LayerBuildOptions extends StreamOptions {
  /** Default gzip; 'none' stores the tar as it is. */
  compression?: Compression;
  /** gzip 1–9 (default 6), zstd 1–19 (default 3). */
  level?: number;
  /** Media type family of the layer (default oci; an image lists it in its own family anyway). */
  family?: 'oci' | 'docker';
  /** Where the blob is built (default: the shared cache of `defaultCacheDir()`). */
  cache?: BlobCache;
  /** File times in the tar (default SOURCE_DATE_EPOCH, else 0; 'keep' keeps them). */
  mtime?: TarOptions['mtime'];
  /** Owner of every entry (default root; 'keep' keeps numeric ids). */
  owner?: TarOptions['owner'];
}

/** Options of `layerFromDir`, `layerFromPaths` and `layerFromContents`. */
export interface LayerFromPathOptions extends LayerBuildOptions {
  /** Where the content lands in the image (default `/`; `layerFromPaths` takes each pair's). */
  dest?: string;
  /** Drop (false) or rewrite (a header) entries before they are written. */
  filter?: TarFilter;
}

function tarOptions(opts: LayerBuildOptions & { filter?: TarFilter }): TarOptions {
  const o: TarOptions = {};
  if (opts.filter) o.filter = opts.filter;
  if (opts.mtime !== undefined) o.mtime = opts.mtime;
  if (opts.owner !== undefined) o.owner = opts.owner;
  if (opts.signal) o.signal = opts.signal;
  return o;
}

/**
 * Build a layer from an uncompressed tar stream in one pass: compressed into the blob cache
 * while both digests are computed. The result knows everything without I/O and streams from
 * the cache.
 */
export async function buildLayer(tar: Readable, opts: LayerBuildOptions = {}, id = 'layer'): Promise<Layer> {
  const cache = opts.cache ?? BlobCache.default();
  const { stream, result } = (await loadTar()).compressLayer(tar, {
    compression: opts.compression ?? 'gzip',
    ...(opts.level !== undefined ? { level: opts.level } : {}),
    family: opts.family ?? 'oci',
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress
      ? { onProgress: (e) => opts.onProgress?.({ id, phase: 'build', done: e.done }) }
      : {}),
  });
  await cache.ingestComputed(
    stream,
    result.then((i) => i.digest),
    opts.signal ? { signal: opts.signal } : {},
  );
  const info = await result;
  return cachedLayer(cache, info);
}

function cachedLayer(
  cache: BlobCache,
  info: { digest: Digest; diffId: Digest; size: number; mediaType: string },
): Layer {
  return new KnownLayer({
    digest: info.digest,
    diffId: info.diffId,
    size: info.size,
    mediaType: info.mediaType,
    open: (o) => cache.open(info.digest, o.signal ? { signal: o.signal } : {}),
    localPath: async () => ((await cache.has(info.digest)) ? cache.path(info.digest) : undefined),
    verified: true, // the cache verifies every read
  });
}

/** A layer holding the content of directory `dir` (not the directory itself) under `dest`. */
export function layerFromDir(dir: string, opts: LayerFromPathOptions = {}): Promise<Layer> {
  return layerFromPaths([{ src: dir, dest: opts.dest ?? '/' }], opts);
}

/**
 * A layer of several host paths, each placed at its `dest` (a directory's content goes under
 * it; a file lands at exactly `dest`).
 */
export async function layerFromPaths(pairs: PathPair[], opts: LayerFromPathOptions = {}): Promise<Layer> {
  const { tarPaths } = await loadTar();
  return buildLayer(tarPaths(pairs, tarOptions(opts)), opts, pairs.map((p) => p.src).join(', '));
}

/** A layer of in-memory content: `{ '/etc/app.conf': 'text' | bytes | { data, mode, ... } }`. */
export async function layerFromContents(contents: Contents, opts: LayerFromPathOptions = {}): Promise<Layer> {
  const { tarContents } = await loadTar();
  const o = tarOptions(opts);
  if (opts.dest) o.prefix = opts.dest;
  return buildLayer(tarContents(contents, o), opts, 'contents');
}

/**
 * A layer from an existing tar file, compressed or not. A compressed file (gzip, zstd) becomes
 * the blob as it is, read once: hashed, stored and decompressed for the diffID in the same
 * pass. An uncompressed one is compressed (`compression`, default gzip; 'none' keeps it).
 */
export async function layerFromTarball(file: string, opts: LayerBuildOptions = {}): Promise<Layer> {
  const head = Buffer.alloc(8);
  const fh = await open(file, 'r');
  let n: number;
  try {
    ({ bytesRead: n } = await fh.read(head, 0, head.length, 0));
  } finally {
    await fh.close();
  }
  const { detectCompression, decompress } = await loadTar();
  const found = detectCompression(head.subarray(0, n));
  const wanted = opts.compression ?? 'gzip';
  if (found === 'none' && wanted !== 'none') {
    return buildLayer(readFileStream(file), opts, file);
  }
  const cache = opts.cache ?? BlobCache.default();
  const raw = readFileStream(file, { signal: opts.signal });
  const blob = new DigestHasher();
  const forTar = new PassThrough();
  const diff = digestStream(found === 'none' ? forTar : decompress(forTar));
  diff.catch((e: unknown) => raw.destroy(e as Error));
  // Each chunk goes to the cache file and, respecting backpressure, to the decompressor.
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      blob.update(chunk);
      opts.onProgress?.({ id: file, phase: 'build', done: blob.size });
      if (forTar.write(chunk)) cb(null, chunk);
      else forTar.once('drain', () => cb(null, chunk));
    },
    flush(cb: TransformCallback) {
      forTar.end();
      cb();
    },
  });
  raw.on('error', (e) => tap.destroy(e));
  const digest = await cache.ingestComputed(
    raw.pipe(tap),
    diff.then(() => blob.digest()),
    opts.signal ? { signal: opts.signal } : {},
  );
  return cachedLayer(cache, {
    digest,
    diffId: (await diff).digest,
    size: blob.size,
    mediaType: layerMediaType(found, opts.family ?? 'oci'),
  });
}
