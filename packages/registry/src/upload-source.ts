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

/**
 * The upload's source, re-openable: every byte read from it is hashed once per opening, so the
 * digest is known when the last byte has left, even if part of it was skipped (already on the
 * registry) after a resume.
 */
export class UploadSource {
  private stream: Readable | undefined;
  private iterator: AsyncIterator<unknown> | undefined;
  private leftover: Buffer | undefined;
  private hasher: DigestHasher;
  private ended = false;
  /** Bytes read (and hashed) from the current opening. */
  position = 0;

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
    },
  ) {
    this.hasher = new DigestHasher(algorithm);
  }

  /** Start over from the first byte. */
  async reset(): Promise<void> {
    this.close();
    const stream = await this.sourceStep(() => this.open());
    this.stream = stream;
    this.iterator = stream[Symbol.asyncIterator]();
    this.leftover = undefined;
    this.hasher = new DigestHasher(this.algorithm);
    this.position = 0;
    this.ended = false;
  }

  /** Errors of the source itself are the source's, not a failure of the registry connection. */
  private async sourceStep<T>(step: () => T | Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (e) {
      throw e instanceof PdError ? e : new UploadSourceError(this.expected.what, e);
    }
  }

  close(): void {
    if (this.stream && !this.stream.destroyed) this.stream.destroy();
    this.stream = undefined;
    this.iterator = undefined;
  }

  private async next(max: number): Promise<Buffer | undefined> {
    if (!this.iterator) throw new Error('upload source read before reset()');
    let buf = this.leftover;
    this.leftover = undefined;
    if (!buf) {
      if (this.ended) return undefined;
      const iterator = this.iterator;
      const r = await this.sourceStep(() => iterator.next());
      if (r.done) {
        this.ended = true;
        this.verify();
        return undefined;
      }
      const v = r.value;
      // A view, not a copy: streams hand over Buffers, and copying each one cost a pass over the bytes.
      buf =
        typeof v === 'string'
          ? Buffer.from(v)
          : Buffer.isBuffer(v)
            ? v
            : Buffer.from(
                (v as Uint8Array).buffer,
                (v as Uint8Array).byteOffset,
                (v as Uint8Array).byteLength,
              );
    }
    if (buf.length > max) {
      this.leftover = buf.subarray(max);
      buf = buf.subarray(0, max);
    }
    if (!this.trusted) this.hasher.update(buf);
    this.position += buf.length;
    const size = this.expected.size;
    if (size !== undefined && this.position > size)
      throw new SizeMismatchError(this.expected.what, size, this.position);
    return buf;
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
    const self = this;
    async function* gen(): AsyncGenerator<Buffer> {
      let held: Buffer | undefined;
      for (;;) {
        const b = await self.next(1 << 20);
        if (!b) break;
        if (held) yield held;
        held = b;
        onBytes(self.position);
      }
      if (held) yield held;
    }
    return Readable.from(gen(), { objectMode: false });
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
