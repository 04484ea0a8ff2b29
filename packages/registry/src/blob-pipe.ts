import type { Readable } from 'node:stream';
import type { Context } from './context.js';
import { socketFetch } from './download.js';
import { PouredBody } from './transport/poured-body.js';
import { receive, type WriteSink } from './transport/socket-download.js';
import type { RepositoryLike } from './types.js';

/**
 * A blob of another repository, of any registry, as the body of an upload (`UploadOptions.from`).
 * Straight to both registries (no proxy) it goes socket to socket: the GET on a connection of its
 * own, received over plain HTTP into a few reused 1 MiB buffers (over TLS as its chunks come,
 * about 1 MiB at a time), hashed where it lands, each batch poured onto the upload's socket and
 * the next taken once written; no HTTP parser or stream between the two registries. A copy of
 * 154 MiB between two registries through node:http spent 2.4x the CPU of the same on raw sockets
 * (bench/results/2026-12-06-run4.md: its parser, sha256 over 64 KiB chunks and a socket write per
 * chunk); between two HTTPS registries the stream took 1.09 s against 0.86 s socket to socket
 * (bench/results/2026-12-08-tls.md). The last batch leaves only once the digest checked out.
 * Where the source cannot be read so (a proxy, a redirect to storage, an auth challenge, a
 * failure before the first byte left), `fallback` is streamed instead; a failure after bytes
 * left fails the upload, which starts over as any failed upload does.
 */
export class BlobPipe extends PouredBody {
  constructor(
    private readonly ctx: Context,
    private readonly from: RepositoryLike,
    private readonly blob: { digest: string; size: number },
    private readonly fallback: () => Promise<Readable>,
    private readonly options: { signal?: AbortSignal | undefined; onBytes?: (done: number) => void },
  ) {
    super();
  }

  get size(): number {
    return this.blob.size;
  }

  async pour(write: (chunks: readonly Buffer[]) => Promise<void>): Promise<void> {
    const { digest, size } = this.blob;
    const { signal, onBytes } = this.options;
    let poured = 0;
    // A write that failed is the upload's failure (the target answered or went away): nothing
    // to fall back to for this request.
    let writeFailed = false;
    const sink: WriteSink = {
      write: async (chunks) => {
        await write(chunks).catch((e: unknown) => {
          writeFailed = true;
          throw e;
        });
        for (const chunk of chunks) poured += chunk.length;
      },
    };
    const piped = await socketFetch(
      this.ctx,
      this.from,
      digest,
      { size, signal },
      {
        receive: (req) => receive({ ...req, ...(onBytes ? { onBytes } : {}) }, sink),
        undo: async () => poured === 0 && !writeFailed,
        slot: false,
      },
    );
    if (piped !== undefined) return;
    for await (const chunk of await this.fallback()) await write([chunk as Buffer]);
  }

  override readable(): Promise<Readable> {
    return this.fallback();
  }
}
