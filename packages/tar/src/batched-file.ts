import { createReadStream, type ReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { addAbortSignal, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { byteLength, writeFully } from '@pd/internal';
import { ContentVerifier, type Digest, SizeMismatchError } from '@pd/oci-types';

// Streams arrive in chunks of 64 KiB or less (socket reads, compressed blocks). Writing each one
// is one thread-pool trip and one wake-up of the event loop per chunk, which on a busy machine
// costs more than the copy itself; gathering them to about 1 MiB cuts those trips twentyfold
// while holding at most that much.
const BATCH = 1 << 20;

/**
 * Writes a file (open, or still opening) from offset 0 on, gathering chunks into writes of about
 * 1 MiB. Writes run one after the other, in order, each at its own offset (pwrite), so `skip` can
 * leave a region for others to fill meanwhile.
 */
export class BatchedFileWriter {
  private chunks: Uint8Array[] = [];
  private pending = 0;
  private last: Promise<void> = Promise.resolve();
  /** Where the next write goes; moved by each write as it runs (appendFile learns its size only then). */
  private position = 0;

  constructor(private readonly file: FileHandle | Promise<FileHandle>) {}

  /** Queue a chunk; when that filled the batch, the batch's write (else undefined: no promise per chunk). */
  write(chunk: Uint8Array): Promise<void> | undefined {
    this.chunks.push(chunk);
    this.pending += chunk.byteLength;
    return this.pending >= BATCH ? this.flush() : undefined;
  }

  /** Write what is queued; resolves when it and every earlier batch are written. */
  flush(): Promise<void> {
    if (this.chunks.length > 0) {
      const chunks = this.chunks;
      this.chunks = [];
      this.pending = 0;
      this.last = this.last.then(async () => {
        const at = this.position;
        this.position += byteLength(chunks);
        await writeAll(await this.file, chunks, at);
      });
    }
    return this.last;
  }

  /**
   * Leave `length` bytes after everything queued unwritten here: resolves with their offset, for
   * someone else to fill with positional writes (a download running beside this writer).
   */
  skip(length: number): Promise<number> {
    const at = this.flush().then(() => {
      const start = this.position;
      this.position += length;
      return start;
    });
    this.last = at.then(() => undefined);
    this.last.catch(() => undefined);
    return at;
  }

  /**
   * Append the whole file at `path` after everything queued; resolves with its size once written.
   * `onChunk` sees each piece before it is written and may throw to stop the copy; the piece's
   * memory is reused for a later one, so it must not be kept. Two buffers take turns: the next
   * read runs while the last piece is written, and no new memory is touched. Reading a file as a
   * stream allocates a fresh 1 MiB buffer per read instead, and the page faults of that memory
   * cost more than the copy: 154 MB took 250-340 ms that way and 110-125 ms this way.
   */
  appendFile(path: string, onChunk?: (piece: Buffer) => void): Promise<number> {
    const copied = this.flush().then(async () => {
      const size = await copyInto(await this.file, this.position, path, onChunk);
      this.position += size;
      return size;
    });
    // A failed copy fails this call, and the next flush like any failed write; never unhandled.
    this.last = copied.then(() => undefined);
    this.last.catch(() => undefined);
    return copied;
  }
}

async function copyInto(
  out: FileHandle,
  at: number,
  path: string,
  onChunk?: (piece: Buffer) => void,
): Promise<number> {
  let copied = 0;
  // The next piece is being read while this one is written.
  for await (const piece of lentFileChunks(path)) {
    onChunk?.(piece);
    await writeAll(out, [piece], at + copied);
    copied += piece.length;
  }
  return copied;
}

const LENT_CHUNK = 1 << 20;
/** Lent memory a consumer kept past its turn, until the promise settles (keepLentChunk). */
const kept = new WeakMap<ArrayBufferLike, Promise<void>>();

/**
 * Keep a chunk of {@link lentFileChunks} (or a slice of it) past its turn, until `until` settles:
 * nothing is read into its memory before then (the reader takes another buffer meanwhile). For a
 * consumer that hands a chunk to an asynchronous write and asks for the next one, so that the
 * write runs beside the work on the next chunk (hashing it, parsing it). On memory that was not
 * lent it does nothing.
 */
export function keepLentChunk(chunk: Uint8Array, until: Promise<unknown>): void {
  const memory = chunk.buffer;
  const earlier = kept.get(memory);
  const settled = Promise.allSettled([earlier, until]).then(() => undefined);
  kept.set(memory, settled);
  void settled.then(() => {
    if (kept.get(memory) === settled) kept.delete(memory);
  });
}

// The buffers of reads that ran to their end, for the next ones (the latest kept): a fresh MiB
// page-faults as it is first filled (about 3 ms here), once per buffer and file. A reader stopped
// early keeps its own.
const spareBuffers: Buffer[] = [];
const SPARE_BUFFERS = 4;

/**
 * A spare buffer no consumer still keeps, else a new one. Shared memory, so that the extractor's
 * write thread writes files from it where it lies (write-thread.ts).
 */
function freeBuffer(): Buffer {
  for (let i = spareBuffers.length - 1; i >= 0; i--) {
    if (!kept.has(spareBuffers[i]!.buffer)) return spareBuffers.splice(i, 1)[0]!;
  }
  return Buffer.from(new SharedArrayBuffer(LENT_CHUNK));
}

/** Leave `buffers` to the next readers (a kept one is handed out once it is let go). */
function spare(buffers: Buffer[]): void {
  spareBuffers.push(...buffers);
  spareBuffers.splice(0, spareBuffers.length - SPARE_BUFFERS);
}

/**
 * The bytes of a file from `start` (`length` of them, or to its end) through two buffers that
 * take turns: when a chunk is handed out, the next one is already being read into the other
 * buffer, into which the chunk after that is read in turn. So each chunk is lent: the consumer
 * must be done with it (and every slice of it) when it asks for the next (with the last one: when
 * the iteration ends), unless it keeps it ({@link keepLentChunk}): then a third buffer takes its
 * turn while it is kept. No new memory is touched per read, where a file stream allocates (and
 * page-faults) a fresh 1 MiB buffer for each; a reader that runs to the end leaves its buffers to
 * the next one.
 */
export async function* lentFileChunks(
  path: string,
  start = 0,
  length = Number.POSITIVE_INFINITY,
): AsyncGenerator<Buffer> {
  const file = await open(path, 'r');
  const buffers = [freeBuffer(), freeBuffer()];
  let turn = 0;
  let done = 0;
  let ended = false;
  const readNext = () => {
    const n = Math.min(LENT_CHUNK, length - done);
    if (n <= 0) return undefined;
    if (kept.has(buffers[turn]!.buffer)) {
      spare([buffers[turn]!]);
      buffers[turn] = freeBuffer();
    }
    return file.read(buffers[turn]!, 0, n, start + done);
  };
  let reading = readNext();
  try {
    while (reading !== undefined) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) break;
      done += bytesRead;
      turn ^= 1;
      reading = readNext();
      yield buffer.subarray(0, bytesRead);
    }
    ended = true;
  } finally {
    // Nothing may still be reading into the buffers when the file closes.
    await reading?.catch(() => undefined);
    await file.close();
    // The consumer asked for more after the last chunk: it is done with them all.
    if (ended) spare(buffers);
  }
}

/**
 * Feed a stream into a `BatchedFileWriter`, pausing the stream while a full batch is written.
 * Flowing mode, because an async iterator would read() the stream's buffer, which concatenates
 * (copies) the chunks waiting in it. Not `for await` over `streamChunks` either: its promises
 * cost about 14 µs of CPU per chunk (a 316 MB file stream of 64 KiB chunks: 10% more CPU, 8% more
 * time), where this synchronous 'data' handler has none. `onChunk` sees each chunk first and may
 * throw to fail the copy. Resolves at the input's end, rejects on its error, its premature close,
 * or a failed write; the tail may still be queued in `out` (flush it).
 */
export function pipeInto(
  out: BatchedFileWriter,
  input: Readable,
  onChunk?: (chunk: Buffer) => void,
): Promise<void> {
  // finished() listens for errors from here on, so an input that fails before the caller's
  // next await is a rejection, never an unhandled 'error'.
  const ended = finished(input);
  input.on('data', (chunk: Buffer) => {
    let written: Promise<void> | undefined;
    try {
      onChunk?.(chunk);
      written = out.write(chunk);
    } catch (e) {
      input.destroy(e as Error);
      return;
    }
    if (written === undefined) return;
    input.pause();
    written.then(
      () => input.resume(),
      (e: unknown) => input.destroy(e as Error),
    );
  });
  return ended.catch((e: unknown) => {
    input.destroy();
    throw e;
  });
}

/**
 * Copy a stream into a new file (`wx`: it must not exist) in batched writes and close it; returns
 * the bytes written. On failure the file may remain, for the caller to remove.
 */
export async function writeStreamToFile(
  path: string,
  input: Readable,
  signal?: AbortSignal,
): Promise<number> {
  if (signal) addAbortSignal(signal, input);
  const opening = open(path, 'wx');
  opening.catch(() => undefined); // seen by the first write or the final flush, not unhandled meanwhile
  const out = new BatchedFileWriter(opening);
  let size = 0;
  try {
    await pipeInto(out, input, (chunk) => {
      size += chunk.length;
    });
    await out.flush();
  } catch (e) {
    input.destroy();
    throw e;
  } finally {
    await (await opening.catch(() => undefined))?.close();
  }
  return size;
}

/**
 * Write every byte of `buffers` at `position`, or at the handle's current position when none is
 * given (writev may write less).
 */
export function writeAll(fh: FileHandle, buffers: Uint8Array[], position?: number): Promise<void> {
  return writeFully(fh, buffers, position);
}

/** Read size of `readFileStream`: the default 64 KiB made 16 times the chunks, each a pool trip and a hash update. */
export const READ_CHUNK = 1 << 20;

/** A file (or the byte range `start`..`end`, inclusive) as a stream of 1 MiB chunks. */
export function readFileStream(
  path: string,
  options: { start?: number; end?: number; signal?: AbortSignal | undefined } = {},
): ReadStream {
  const { signal, ...range } = options;
  return createReadStream(path, { highWaterMark: READ_CHUNK, ...range, ...(signal ? { signal } : {}) });
}

/** Options of a {@link FileSlice}. */
export interface FileSliceOptions {
  /** Checked as the bytes are read: a mismatch fails the read at its end. */
  digest: Digest;
  /** Names the bytes in errors, e.g. `layer abc/layer.tar of app.tar`. */
  subject?: string | undefined;
  /**
   * For compressed bytes: what they hash to once decompressed (a layer's diffID), checked by the
   * readers that decompress the slice (`extract()`, `decompress()`).
   */
  uncompressedDigest?: Digest | undefined;
  /**
   * The bytes were checked against `digest` moments ago (a blob cache's copy it verified in this
   * process): only their size is checked as they are read, not their digest again. Decompressed,
   * they are still checked against `uncompressedDigest`.
   */
  checked?: boolean | undefined;
}

/**
 * Bytes that sit in a local file, `size` of them from `start` (a member of an archive, a layout's
 * blob), checked against a digest as they are read. An uncompressed layer tar so placed is a
 * `LayerInput` that streams like any file, and the extractor reads it its own way
 * ({@link FileSlice.lentChunks}): through two buffers that take turns, where a file stream
 * touches a fresh 1 MiB buffer per read, and the page faults of that memory cost more than the
 * reads themselves. A compressed blob so placed is what an upload sends from the file.
 */
export class FileSlice implements AsyncIterable<Buffer> {
  readonly subject: string;

  constructor(
    readonly path: string,
    readonly start: number,
    readonly size: number,
    private readonly options: FileSliceOptions,
  ) {
    this.subject = options.subject ?? `${path} (${size} bytes at ${start})`;
  }

  /** What the bytes must hash to. */
  get digest(): Digest {
    return this.options.digest;
  }

  /** For compressed bytes: what they must hash to once decompressed, when known. */
  get uncompressedDigest(): Digest | undefined {
    return this.options.uncompressedDigest;
  }

  /**
   * The same bytes, known to decompress to `digest` (a compressed layer blob and its diffID):
   * readers that decompress the slice check that too.
   */
  decompressingTo(digest: Digest): FileSlice {
    return new FileSlice(this.path, this.start, this.size, { ...this.options, uncompressedDigest: digest });
  }

  /** The bytes as fresh chunks, which the consumer may keep. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const check = this.checker();
    if (this.size === 0) return check.end();
    const stream = readFileStream(this.path, { start: this.start, end: this.start + this.size - 1 });
    for await (const chunk of stream) {
      check.update(chunk as Buffer);
      yield chunk as Buffer;
    }
    check.end();
  }

  /**
   * The bytes, each chunk lent ({@link lentFileChunks}): a consumer must be done with a chunk when
   * it asks for the next. The tar parser and the extractor are; a stream, which reads ahead, is not.
   */
  async *lentChunks(): AsyncGenerator<Buffer> {
    const check = this.checker();
    for await (const chunk of lentFileChunks(this.path, this.start, this.size)) {
      check.update(chunk);
      yield chunk;
    }
    check.end(); // a file that ends early is a size mismatch
  }

  private checker(): Pick<ContentVerifier, 'update' | 'end'> {
    if (this.options.checked !== true) {
      return new ContentVerifier(this.options.digest, { size: this.size, subject: this.subject });
    }
    let seen = 0;
    const mismatch = () => new SizeMismatchError(this.subject, this.size, seen);
    return {
      update: (chunk) => {
        seen += chunk.length;
        if (seen > this.size) throw mismatch();
      },
      end: () => {
        if (seen !== this.size) throw mismatch();
      },
    };
  }
}
