import { Readable } from 'node:stream';
import {
  type Digest,
  type DigestAlgorithm,
  DigestHasher,
  DigestMismatchError,
  PdError,
  SizeMismatchError,
} from '@pd/oci-types';
import { UploadSourceError } from './errors.js';

/** Opens the bytes to upload; called again for every retry that has to start over. */
export type OpenSource = () => Readable | Promise<Readable>;

/** Bytes taken from the source ahead of the reader before it is paused. */
const QUEUE_LIMIT = 1 << 20;

/** A stream chunk as a Buffer: a view, not a copy (copying each one cost a pass over the bytes). */
function asBuffer(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string') return Buffer.from(v);
  const u = v as Uint8Array;
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/**
 * The upload's source, re-openable: every byte read from it is hashed once per opening, so the
 * digest is known when the last byte has left, even if part of it was skipped (already on the
 * registry) after a resume.
 *
 * The source is read by its `data` events into a short queue (paused at {@link QUEUE_LIMIT}), and
 * the request body takes from that queue synchronously. An async iterator over the source cost a
 * promise or three per chunk and, whenever the source ran ahead of the upload, `read()` joined
 * everything buffered into a fresh Buffer: a copy and its page faults for each (issue 15).
 */
export class UploadSource {
  private stream: Readable | undefined;
  private queue: Buffer[] = [];
  private queued = 0;
  /** The source emitted `end`: everything it had is in the queue. */
  private sourceEnded = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private hasher: DigestHasher;
  /** The reader saw the end, checked against the expected digest and size. */
  private ended = false;
  /** Bytes read (and hashed) from the current opening. */
  position = 0;
  /** What `keep` gathers during an opening, and what it kept after one that read it all. */
  private keeping: Buffer[] | undefined;
  private kept: Buffer[] | undefined;

  constructor(
    private readonly open: OpenSource,
    private readonly algorithm: DigestAlgorithm,
    private readonly expected: {
      digest?: Digest | undefined;
      size?: number | undefined;
      what: string;
      /**
       * The source checks itself against `digest` and fails before its end when wrong: its bytes
       * are not hashed here a second time (the registry checks the digest of the upload anyway).
       */
      verified?: boolean | undefined;
      /**
       * Keep the bytes once read to the end and checked, so that another attempt sends them again
       * without opening the source again: for small blobs only (a single POST the registry
       * declined is followed by a PUT of the same bytes; reopening a remote blob was a second GET).
       */
      keep?: boolean | undefined;
    },
  ) {
    this.hasher = new DigestHasher(algorithm);
  }

  /** Start over from the first byte. */
  async reset(): Promise<void> {
    this.close();
    const kept = this.kept;
    const stream = kept ? Readable.from(kept) : await this.sourceStep(() => this.open());
    this.keeping = this.expected.keep && !kept ? [] : undefined;
    this.stream = stream;
    this.queue = [];
    this.queued = 0;
    this.sourceEnded = false;
    this.failure = undefined;
    this.hasher = new DigestHasher(this.algorithm);
    this.position = 0;
    this.ended = false;
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('error', this.onError);
  }

  private readonly onData = (v: unknown) => {
    const buf = asBuffer(v);
    if (buf.length === 0) return;
    this.queue.push(buf);
    this.queued += buf.length;
    if (this.queued >= QUEUE_LIMIT) this.stream?.pause();
    this.notify();
  };
  private readonly onEnd = () => {
    this.sourceEnded = true;
    this.notify();
  };
  private readonly onError = (e: unknown) => {
    this.failure ??= { error: e };
    this.notify();
  };

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Resolves once the source has more for the reader: bytes, its end or a failure. */
  private arrival(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  /** Errors of the source itself are the source's, not a failure of the registry connection. */
  private async sourceStep<T>(step: () => T | Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (e) {
      throw this.sourceError(e);
    }
  }

  private sourceError(e: unknown): unknown {
    return e instanceof PdError ? e : new UploadSourceError(this.expected.what, e);
  }

  close(): void {
    const stream = this.stream;
    this.stream = undefined;
    this.queue = [];
    this.queued = 0;
    if (!stream) return;
    stream.off('data', this.onData);
    stream.off('end', this.onEnd);
    stream.off('error', this.onError);
    // A late error of the abandoned source must not go unhandled.
    stream.on('error', () => undefined);
    if (!stream.destroyed) stream.destroy();
  }

  /**
   * Up to `max` bytes the source has already given, hashed and counted; null when it has none
   * yet (wait for {@link arrival}), undefined at its end (after the digest and size checked out).
   */
  private take(max: number): Buffer | null | undefined {
    const stream = this.stream;
    if (!stream) throw new Error('upload source read before reset()');
    if (this.failure) throw this.sourceError(this.failure.error);
    let buf = this.queue[0];
    if (!buf) {
      if (!this.sourceEnded) return null;
      if (!this.ended) {
        this.ended = true;
        this.verify();
        this.kept ??= this.keeping;
        this.keeping = undefined;
      }
      return undefined;
    }
    if (buf.length > max) {
      this.queue[0] = buf.subarray(max);
      buf = buf.subarray(0, max);
    } else {
      this.queue.shift();
    }
    this.queued -= buf.length;
    if (this.queued < QUEUE_LIMIT && stream.isPaused() && !this.sourceEnded) stream.resume();
    if (!this.trusted) this.hasher.update(buf);
    this.keeping?.push(buf);
    this.position += buf.length;
    const size = this.expected.size;
    if (size !== undefined && this.position > size)
      throw new SizeMismatchError(this.expected.what, size, this.position);
    return buf;
  }

  private async next(max: number): Promise<Buffer | undefined> {
    for (;;) {
      const b = this.take(max);
      if (b !== null) return b;
      await this.arrival();
    }
  }

  /** Exactly `size` bytes (fewer only at the end), buffered: for chunked uploads. */
  async read(size: number): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    let n = 0;
    while (n < size) {
      const b = await this.next(size - n);
      if (!b) break;
      parts.push(b);
      n += b.length;
    }
    return n === 0 ? undefined : parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }

  /** Hash and drop bytes up to `offset` (they already reached the registry). */
  async skipTo(offset: number): Promise<void> {
    while (this.position < offset) {
      const b = await this.next(offset - this.position);
      if (!b) throw new SizeMismatchError(this.expected.what, offset, this.position);
    }
  }

  /** Hash whatever is left without sending it (the registry already holds it all). */
  async drain(): Promise<void> {
    while (await this.next(Number.MAX_SAFE_INTEGER));
  }

  /**
   * The rest of the source as a request body. The last chunk is held back until the digest and
   * size are checked, so a source that does not match its promised digest never completes an upload.
   */
  rest(onBytes: (position: number) => void): Readable {
    let held: Buffer | undefined;
    let waiting = false;
    let stopped = false;
    // Takes what the source has queued until the body is full; with nothing queued, waits for
    // more once (no promise per chunk while the bytes keep coming).
    const pump = () => {
      waiting = false;
      try {
        while (!stopped) {
          const b = this.take(1 << 20);
          if (b === null) {
            waiting = true;
            void this.arrival().then(pump);
            return;
          }
          if (b === undefined) {
            if (held) body.push(held);
            held = undefined;
            stopped = true;
            body.push(null);
            return;
          }
          const previous = held;
          held = b;
          onBytes(this.position);
          if (previous && !body.push(previous)) return;
        }
      } catch (e) {
        body.destroy(e as Error);
      }
    };
    const body = new Readable({
      highWaterMark: 1 << 20,
      read: () => {
        if (!waiting) pump();
      },
      destroy: (err, cb) => {
        stopped = true;
        held = undefined;
        cb(err);
      },
    });
    return body;
  }

  /** Digest and size; only once the source was read to its end. */
  result(): { digest: Digest; size: number } {
    if (!this.ended) throw new Error('upload source not read to the end');
    return { digest: this.trusted ? this.expected.digest! : this.hasher.digest(), size: this.position };
  }

  /** A source that verifies itself, with a digest to upload under: no hashing here. */
  private get trusted(): boolean {
    return this.expected.verified === true && this.expected.digest !== undefined;
  }

  private verify(): void {
    const { digest, size, what } = this.expected;
    if (size !== undefined && this.position !== size) throw new SizeMismatchError(what, size, this.position);
    if (this.trusted) return;
    const actual = this.hasher.digest();
    if (digest !== undefined && actual !== digest) throw new DigestMismatchError(what, digest, actual);
  }
}
