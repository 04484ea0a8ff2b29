import { ContentVerifier, type Digest } from '@pd/oci-types';
import { lentFileChunks, readFileStream } from './batched-file.js';

/** Options of a {@link FileSlice}. */
export interface FileSliceOptions {
  /** Checked as the bytes are read: a mismatch fails the read at its end. */
  digest: Digest;
  /** Names the bytes in errors, e.g. `layer abc/layer.tar of app.tar`. */
  subject?: string | undefined;
}

/**
 * An uncompressed layer tar that sits in a local file, `size` bytes from `start` (a member of a
 * docker archive), checked against a digest as it is read. As a `LayerInput` it streams like any
 * file. The extractor reads it its own way ({@link FileSlice.lentChunks}): through two buffers
 * that take turns, where a file stream touches a fresh 1 MiB buffer per read, and the page faults
 * of that memory cost more than the reads themselves.
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

  private checker(): ContentVerifier {
    return new ContentVerifier(this.options.digest, { size: this.size, subject: this.subject });
  }
}
