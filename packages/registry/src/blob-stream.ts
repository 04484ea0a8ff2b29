import { Readable } from 'node:stream';
import { type DigestAlgorithm, DigestHasher, DigestMismatchError, SizeMismatchError } from '@pd/oci-types';
import { connectionError, isAbortError, RegistryError } from './errors.js';
import type { RegistryResponse } from './requester.js';
import { abandon, header, type Logger } from './transport/http.js';
import { isRetryableError, type RetryBudget, sleep } from './transport/retry.js';

export interface BlobStreamOptions {
  digest: string;
  algorithm: DigestAlgorithm;
  size: number | undefined;
  /** For messages: `blob sha256:… in registry/repo`. */
  what: string;
  registry: string;
  budget: RetryBudget;
  signal: AbortSignal | undefined;
  timeouts: { headers: number; body: number };
  logger: Logger | undefined;
  /** GET the blob from `offset` (a Range request when > 0). */
  fetchFrom: (offset: number) => Promise<RegistryResponse>;
  onBytes: (done: number) => void;
  onDone: (done: number) => void;
  /** Called once, when the stream ends, fails or is destroyed. */
  release: () => void;
}

/**
 * The verified blob stream behind `getBlob`. Event-driven (no promise per chunk): each chunk is
 * hashed as it arrives and handed on one chunk late, so the last one is only released after the
 * digest and size checked out; otherwise the stream errors. A body cut short by a retryable
 * failure is fetched again from the current offset and the hash simply continues.
 */
export class VerifiedBlobStream extends Readable {
  private res: RegistryResponse;
  private readonly hasher: DigestHasher;
  private done = 0;
  /** Bytes of a fresh 200 answer to drop after a resume the registry did not honour. */
  private skip = 0;
  private held: Buffer | undefined;
  private resuming = false;
  private released = false;

  constructor(
    first: RegistryResponse,
    private readonly o: BlobStreamOptions,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.hasher = new DigestHasher(o.algorithm);
    this.res = first;
    this.attach(first);
  }

  private readonly onData = (chunk: Buffer) => {
    let buf = chunk;
    if (this.skip > 0) {
      if (buf.length <= this.skip) {
        this.skip -= buf.length;
        return;
      }
      buf = buf.subarray(this.skip);
      this.skip = 0;
    }
    this.hasher.update(buf);
    this.done += buf.length;
    const { size } = this.o;
    if (size !== undefined && this.done > size) {
      this.destroy(new SizeMismatchError(this.o.what, size, this.done));
      return;
    }
    this.o.budget.progress();
    const previous = this.held;
    this.held = buf;
    this.o.onBytes(this.done);
    if (previous && !this.push(previous)) this.res.body.pause();
  };

  private readonly onEnd = () => {
    this.detach(this.res);
    const { size, digest, what } = this.o;
    if (size !== undefined && this.done !== size) {
      this.destroy(new SizeMismatchError(what, size, this.done));
      return;
    }
    const actual = this.hasher.digest();
    if (actual !== digest) {
      this.destroy(new DigestMismatchError(what, digest, actual));
      return;
    }
    if (this.held) this.push(this.held);
    this.held = undefined;
    this.o.onDone(this.done);
    this.releaseOnce();
    this.push(null);
  };

  private readonly onError = (e: unknown) => {
    this.detach(this.res);
    if (this.destroyed) return;
    this.resume_(e).catch((err: unknown) => this.destroy(err as Error));
  };

  private attach(res: RegistryResponse): void {
    res.body.on('data', this.onData);
    res.body.on('end', this.onEnd);
    res.body.on('error', this.onError);
  }

  private detach(res: RegistryResponse): void {
    res.body.off('data', this.onData);
    res.body.off('end', this.onEnd);
    res.body.off('error', this.onError);
    abandon(res.body);
  }

  /** After a failed body: wait, then GET again from the current offset (or fail for good). */
  private async resume_(e: unknown): Promise<void> {
    const { signal, budget, what, registry, timeouts } = this.o;
    if (isAbortError(e) || signal?.aborted) throw signal?.aborted ? signal.reason : e;
    const host = this.res.url.host;
    if (!isRetryableError(e)) throw connectionError(e, host, registry, timeouts);
    const delay = budget.next();
    if (delay === undefined) throw connectionError(e, host, registry, timeouts);
    this.o.logger?.debug?.(`${what}: interrupted at ${this.done} bytes, resuming in ${Math.round(delay)} ms`);
    this.resuming = true;
    await sleep(delay, signal);
    const res = await this.o.fetchFrom(this.done);
    this.resuming = false;
    if (this.destroyed) {
      abandon(res.body);
      return;
    }
    this.skip = resumeSkip(res, this.done, what, registry);
    this.res = res;
    this.attach(res);
  }

  override _read(): void {
    if (!this.resuming) this.res.body.resume();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.detach(this.res);
    this.held = undefined;
    this.releaseOnce();
    cb(err);
  }

  private releaseOnce(): void {
    if (this.released) return;
    this.released = true;
    this.o.release();
  }
}

/** How many bytes of a resumed response to drop: 0 for a matching 206, `done` for a full 200. */
function resumeSkip(res: RegistryResponse, done: number, what: string, registry: string): number {
  if (res.status === 200) return done;
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header(res.headers, 'content-range') ?? '');
  const start = m?.[1] ? Number(m[1]) : Number.NaN;
  if (!(start <= done)) {
    abandon(res.body);
    throw new RegistryError(`${what}: the registry resumed at the wrong offset`, {
      registry,
      status: res.status,
      hint: 'its Content-Range does not match the Range asked for; retry the download',
    });
  }
  return done - start;
}
