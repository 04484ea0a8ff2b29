import { TarFormatError } from './errors.js';

/**
 * Pull-based reader over an async iterable of byte chunks, handing out zero-copy slices.
 * Only one operation may be in flight at a time; callers serialize (see parseTar). The `take`
 * methods never wait: a caller with nothing in flight reads what is at hand without a promise.
 */
export class ByteSource {
  private readonly it: AsyncIterator<Uint8Array | string>;
  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;
  private done = false;
  /** Bytes consumed so far (for error messages). */
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array | string>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.chunk.length) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      const v = r.value;
      this.chunk =
        typeof v === 'string'
          ? Buffer.from(v)
          : Buffer.isBuffer(v)
            ? v
            : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      this.pos = 0;
    }
    return true;
  }

  /**
   * Up to `max` bytes (at least 1) of the chunk at hand, without waiting; undefined when it is
   * used up (then {@link readSome} asks the input for more).
   */
  takeSome(max: number): Buffer | undefined {
    const n = Math.min(max, this.chunk.length - this.pos);
    if (n <= 0) return undefined;
    const out = this.chunk.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.offset += n;
    return out;
  }

  /** Exactly `n` bytes when the chunk at hand holds them, without waiting; else undefined. */
  takeExact(n: number): Buffer | undefined {
    return this.chunk.length - this.pos >= n ? this.takeSome(n) : undefined;
  }

  /** Discard `n` bytes when the chunk at hand holds them, without waiting; false otherwise. */
  skipBuffered(n: number): boolean {
    if (this.chunk.length - this.pos < n) return false;
    this.pos += n;
    this.offset += n;
    return true;
  }

  /** Up to `max` bytes (at least 1), or undefined at end of input. */
  async readSome(max: number): Promise<Buffer | undefined> {
    if (!(await this.fill())) return undefined;
    return this.takeSome(max);
  }

  /** Exactly `n` bytes; undefined if the input ended before the first byte; throws if it ended midway. */
  async readExact(n: number): Promise<Buffer | undefined> {
    const first = await this.readSome(n);
    if (first === undefined) return undefined;
    if (first.length === n) return first;
    const parts: Buffer[] = [Buffer.from(first)];
    let have = first.length;
    while (have < n) {
      const more = await this.readSome(n - have);
      if (more === undefined) throw new TarFormatError(`unexpected end of archive at byte ${this.offset}`);
      parts.push(more);
      have += more.length;
    }
    return Buffer.concat(parts, n);
  }

  /** Discard `n` bytes; throws if the input ends first. */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const got = await this.readSome(left);
      if (got === undefined) throw new TarFormatError(`unexpected end of archive at byte ${this.offset}`);
      left -= got.length;
    }
  }

  /** Consume and discard everything left, so that upstream hashing sees every byte. */
  async drain(): Promise<void> {
    while ((await this.readSome(1 << 20)) !== undefined) {
      // discard
    }
  }

  /** Stop the upstream iterator early (on error). */
  async close(): Promise<void> {
    await this.it.return?.();
  }
}
