import type { Readable } from 'node:stream';

/**
 * A request body that a socket of its own (plain HTTP or TLS) sends without a stream between:
 * its bytes are poured into `write` (socket-request.ts), which resolves once the chunks are on
 * the socket, so the body can hand out a few buffers in turn instead of a fresh one per chunk. A
 * blob in a local file (file-body.ts) and a blob read from another registry (blob-pipe.ts) are
 * bodies of this kind. Through a proxy, and over HTTPS below 8 MiB (HttpTransport.ownConnection),
 * the same bytes go as a stream.
 */
export abstract class PouredBody {
  /** How many bytes it pours: the request's Content-Length. */
  abstract readonly size: number;

  /**
   * Hand every byte to `write`, in order, a few chunks at a time, and resolve after the last
   * write. A chunk's buffer may be used again once its write resolved; a rejected write ends the
   * pour with its error.
   */
  abstract pour(write: (chunks: readonly Buffer[]) => Promise<void>): Promise<void>;

  /** The same bytes as a stream, for the transports that take streams. */
  abstract readable(): Readable | Promise<Readable>;
}
