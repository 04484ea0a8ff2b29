import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { ContentVerifier, type Digest, PdError, SizeMismatchError } from '@pd/oci-types';
import { UploadSourceError } from '../errors.js';
import { PouredBody } from './poured-body.js';

/** Bytes read from the file at a time. */
const CHUNK = 1 << 20;

export interface FileBodyOptions {
  /** Where the bytes start in the file (default 0: a file of its own). */
  start?: number | undefined;
  /** How many bytes: the request's Content-Length. */
  size: number;
  /** What the bytes must hash to; checked before the last chunk is handed out. */
  digest: Digest;
  /** For messages: `blob sha256:… to registry/repo`. */
  what: string;
  /** Told the bytes handed out so far, once per chunk. */
  onBytes?: ((sent: number) => void) | undefined;
}

/**
 * A request body that is a blob in a local file (an OCI layout's, the blob cache's, a member of
 * an archive): `size` bytes from `start`. @pd/tar's FileSlice is the same idea for readers; this
 * package stays below @pd/tar, and an upload needs its check before the last chunk leaves. The
 * transport sends it from the file: over a socket of its own (plain HTTP or TLS), each chunk read
 * into one of two buffers that take turns (socket-request.ts), else (through a proxy) as a
 * stream. Every byte is hashed on the way and the last chunk is handed out only once size and
 * digest checked out, so a file that is not the blob it claims to be never completes an upload.
 */
export class FileBody extends PouredBody {
  constructor(
    readonly path: string,
    readonly options: FileBodyOptions,
  ) {
    super();
  }

  get size(): number {
    return this.options.size;
  }

  /** The chunks onto the socket, the next read while the last is written (two buffers in turn). */
  async pour(write: (chunks: readonly Buffer[]) => Promise<void>): Promise<void> {
    let previous: Promise<void> = Promise.resolve();
    for await (const chunk of this.chunks(true)) {
      await previous;
      previous = write([chunk]);
      previous.catch(() => undefined); // awaited on the next turn or below
    }
    await previous;
  }

  /**
   * The file's bytes in order. With `reuse`, two buffers take turns: a chunk is overwritten two
   * chunks later, so the consumer must be done with it before asking for the one after next
   * (socket-request.ts waits for each write before that). Without, every chunk is a new Buffer.
   */
  async *chunks(reuse: boolean): AsyncGenerator<Buffer> {
    const { start = 0, size, digest, what, onBytes } = this.options;
    const file = await open(this.path, 'r').catch((e: unknown) => {
      throw new UploadSourceError(what, e);
    });
    try {
      const available = (await file.stat()).size - start;
      if (available < size) throw new SizeMismatchError(what, size, Math.max(available, 0));
      const check = new ContentVerifier(digest, { size, subject: what });
      if (size === 0) check.end();
      const length = Math.min(CHUNK, size);
      const turns = reuse ? [Buffer.allocUnsafe(length), Buffer.allocUnsafe(length)] : [];
      let sent = 0;
      for (let turn = 0; sent < size; turn ^= 1) {
        const buffer = turns[turn] ?? Buffer.allocUnsafe(Math.min(CHUNK, size - sent));
        const want = Math.min(buffer.length, size - sent);
        const { bytesRead } = await file.read(buffer, 0, want, start + sent);
        if (bytesRead === 0) throw new SizeMismatchError(what, size, sent);
        const chunk = buffer.subarray(0, bytesRead);
        check.update(chunk);
        sent += bytesRead;
        if (sent === size) check.end();
        yield chunk;
        onBytes?.(sent);
      }
    } catch (e) {
      throw e instanceof PdError ? e : new UploadSourceError(what, e);
    } finally {
      await file.close();
    }
  }

  /** The bytes as a stream, for a transport that takes streams (TLS, a proxy). */
  override readable(): Readable {
    return Readable.from(this.chunks(false), { objectMode: false });
  }
}
