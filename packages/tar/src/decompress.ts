import { Readable } from 'node:stream';
import { type Compression, ContentVerifier } from '@pd/oci-types';
import { FileSlice } from './batched-file.js';
import { TarFormatError } from './errors.js';

/** The most bytes detectCompression looks at (xz's magic): what a stream's head must hold. */
const SNIFF_BYTES = 6;

/**
 * Compression named by the first bytes of a stream (needs at least 4 bytes to see zstd). Throws
 * `TarFormatError` for xz and bzip2, which layers may not use.
 */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd)
    return 'zstd';
  if (
    head.length >= SNIFF_BYTES &&
    head[0] === 0xfd &&
    head[1] === 0x37 &&
    head[2] === 0x7a &&
    head[3] === 0x58
  ) {
    throw new TarFormatError('xz-compressed layers are not supported', {
      hint: 'recompress the layer with gzip or zstd',
    });
  }
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) {
    throw new TarFormatError('bzip2-compressed layers are not supported', {
      hint: 'recompress the layer with gzip or zstd',
    });
  }
  return 'none';
}

function toBuffer(v: Uint8Array | string): Buffer {
  return typeof v === 'string'
    ? Buffer.from(v)
    : Buffer.isBuffer(v)
      ? v
      : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/**
 * The uncompressed bytes of a layer stream, whatever it is compressed with (sniffed from its
 * magic bytes). Streams: never holds more than a few chunks. A {@link FileSlice} that names its
 * `uncompressedDigest` is checked against it too.
 */
export function decompress(input: LayerInput): Readable {
  const chunks = input instanceof FileSlice ? sliceTar(input) : decompressChunks(asIterable(input));
  return Readable.from(chunks, { objectMode: false });
}

/**
 * The layer tar in a file slice: its bytes as they lie, or decompressed and checked against the
 * slice's `uncompressedDigest` (the slice's own digest is checked as it is read). `lent`: read
 * through reused buffers ({@link FileSlice.lentChunks}), for a consumer done with each chunk when
 * it asks for the next; a fresh buffer per read costs its page faults (a gzip layer read as a
 * stream: 0.12 s more of a 160 MB inflate, bench/results/2026-12-07-unpack.md).
 */
export async function* sliceTar(slice: FileSlice, lent = false): AsyncGenerator<Buffer> {
  const expected = slice.uncompressedDigest;
  // An uncompressed slice's bytes are its digest's: no second hash for the same answer.
  const check =
    expected !== undefined && expected !== slice.digest
      ? new ContentVerifier(expected, { subject: `uncompressed ${slice.subject}` })
      : undefined;
  for await (const chunk of decompressChunks(lent ? slice.lentChunks() : slice, lent)) {
    check?.update(chunk);
    yield chunk;
  }
  check?.end();
}

/** What layer readers accept: a stream, any async iterable of bytes, or bytes already in memory. */
export type LayerInput = Readable | AsyncIterable<Uint8Array | string> | Uint8Array;

export function asIterable(input: LayerInput): AsyncIterable<Uint8Array | string> {
  if (input instanceof Uint8Array) {
    return (async function* () {
      yield input;
    })();
  }
  return input;
}

/** `lent`: the input's chunks are lent (their memory reused once the next is asked for). */
async function* decompressChunks(
  input: AsyncIterable<Uint8Array | string>,
  lent = false,
): AsyncGenerator<Buffer> {
  const it = input[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLength = 0;
  let ended = false;
  while (headLength < SNIFF_BYTES) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = toBuffer(r.value);
    headLength += b.length;
    // Kept while the next chunk is read only if too short to sniff: a copy then, if it is lent.
    head.push(lent && headLength < SNIFF_BYTES ? Buffer.from(b) : b);
  }
  // Most often the first chunk alone: no copy of it (a fresh MiB page-faults, 3 ms a layer here).
  const first = head.length === 1 ? head[0]! : Buffer.concat(head);
  const rest: AsyncIterable<Buffer> = {
    async *[Symbol.asyncIterator]() {
      if (first.length) yield first;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield toBuffer(r.value);
      }
    },
  };
  try {
    const kind = detectCompression(first);
    if (kind === 'none') yield* rest;
    else if (kind === 'gzip') yield* gunzip(rest);
    else yield* unzstd(rest, lent);
  } finally {
    await it.return?.();
  }
}

/**
 * zlib's output buffer size. The default 16 KiB costs a thread-pool round trip and a stream chunk
 * per 16 KiB of output: inflating a 317 MB layer took 0.96 s with it and 0.55 s with 256 KiB
 * (larger was slower again: the chunks no longer stay in the CPU cache on their way to the file).
 */
const INFLATE_CHUNK = 256 * 1024;

async function* gunzip(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const z = process.getBuiltinModule('node:zlib').createGunzip({ chunkSize: INFLATE_CHUNK });
  // One chunk at a time, the next once zlib is done with the last (the write's callback): zlib
  // reads a chunk where it lies, on the thread pool, so a source may lend its chunks. A failed
  // zlib never calls back: its close ends the feeding instead, which then asks for no more chunks,
  // so the memory of the one zlib may still hold is not read into again.
  const consumed = (chunk: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const closed = () => reject(z.errored ?? new Error('gunzip closed'));
      z.once('close', closed);
      z.write(chunk, (e) => {
        z.off('close', closed);
        if (e) reject(e);
        else resolve();
      });
    });
  const feeding = (async () => {
    for await (const chunk of source) {
      if (z.destroyed) return;
      await consumed(chunk);
    }
    z.end();
  })();
  feeding.catch((e: unknown) => z.destroy(e as Error));
  try {
    for await (const chunk of z) yield chunk as Buffer;
    await feeding;
  } catch (e) {
    if (e instanceof TarFormatError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (typeof err.code === 'string' && err.code.startsWith('Z_')) {
      throw new TarFormatError(`corrupt gzip stream: ${err.message}`, { cause: e });
    }
    throw e;
  } finally {
    z.destroy();
    // The feeding stops at once (see consumed), letting go of the source.
    await feeding.catch(() => undefined);
  }
}

async function* unzstd(source: AsyncIterable<Buffer>, lent: boolean): AsyncGenerator<Buffer> {
  let out: Buffer[] = [];
  // fzstd is 30 ms of start-up, for layers few images have.
  const { Decompress } = await import('fzstd');
  const d = new Decompress((chunk) => {
    out.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  const push = (chunk: Uint8Array, final: boolean) => {
    try {
      d.push(chunk, final);
    } catch (e) {
      throw new TarFormatError(`corrupt zstd stream: ${(e as Error).message}`, { cause: e });
    }
  };
  for await (const chunk of source) {
    // fzstd keeps pieces of a chunk it cannot decode yet: a lent chunk is copied first.
    push(lent ? Buffer.from(chunk) : chunk, false);
    if (out.length) {
      const ready = out;
      out = [];
      yield* ready;
    }
  }
  push(new Uint8Array(0), true);
  yield* out;
}
