import { createWriteStream } from 'node:fs';
import { type FileHandle, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { writeFully } from '@pd/internal';
import { type Digest, PdError, parseDigest } from '@pd/oci-types';
import { type GetBlobOptions, getBlob } from './blobs.js';
import { apiPath, type Context, pullScope } from './context.js';
import { isAbortError } from './errors.js';
import { MAX_REDIRECTS, REDIRECTS } from './requester.js';
import { redactUrl } from './transport/http.js';
import {
  fileSink,
  receive,
  type SocketDownloadOutcome,
  type SocketReceiveRequest,
  socketDownload,
} from './transport/socket-download.js';
import { type RepositoryLike, repoName, shortDigest } from './types.js';

// A socket hands over chunks of 64 KiB or less; one write each is one thread-pool trip per
// chunk. The file stream stays corked while about BATCH bytes gather, then goes down in one
// writev (Node's own batching: no copy, no buffer of ours) while the input waits.
const BATCH = 1 << 20;

/** Copy `input` into a new file (`wx`) in writes of about {@link BATCH} bytes; returns the byte count. */
async function copyToNewFile(input: Readable, path: string): Promise<number> {
  const out = createWriteStream(path, { flags: 'wx', highWaterMark: BATCH });
  const closed = finished(out);
  closed.catch(() => undefined); // awaited below; not unhandled while the input still flows
  let size = 0;
  out.cork();
  input.on('data', (chunk: Buffer) => {
    size += chunk.length;
    out.write(chunk);
    if (out.writableLength < BATCH) return;
    // Corked again only once this batch is written: a cork while a write is in flight would hold
    // the rest of the batch back.
    input.pause();
    out.once('drain', () => {
      out.cork();
      input.resume();
    });
    out.uncork();
  });
  try {
    await Promise.race([finished(input), closed]);
  } catch (e) {
    out.destroy();
    await closed.catch(() => undefined);
    throw e;
  }
  out.end();
  await closed;
  return size;
}

/**
 * Download a blob to `path`: bytes go to a temporary file beside it, which is renamed into place
 * only once the digest and size checked out. On any failure the temporary file is removed and
 * `path` is left as it was.
 */
export async function downloadBlob(
  ctx: Context,
  repo: RepositoryLike,
  digest: string,
  path: string,
  opts: GetBlobOptions = {},
): Promise<{ digest: Digest; size: number; path: string }> {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${process.getBuiltinModule('node:crypto').randomBytes(4).toString('hex')}.tmp`,
  );
  const direct = await socketFetch(ctx, repo, digest, opts, {
    receive: (req) => socketDownload({ ...req, path: tmp }),
    undo: () => rm(tmp, { force: true }).then(() => true),
  });
  if (direct !== undefined) {
    await rename(tmp, path).catch(async (e: unknown) => {
      await rm(tmp, { force: true });
      throw e;
    });
    return { digest: digest as Digest, size: direct, path };
  }
  const stream = await getBlob(ctx, repo, digest, opts);
  try {
    const size = await copyToNewFile(stream, tmp);
    await rename(tmp, path);
    return { digest: digest as Digest, size, path };
  } catch (e) {
    stream.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Download a blob into `file` at `position`: its bytes, verified, fill `position` to `position +
 * size` with positional writes, so that several blobs can land side by side in one file whose
 * layout is known before any of them arrived (an archive: every member's offset follows from
 * the sizes). Returns the size. A failed try is written over by the next one from its start;
 * when the call fails, the region holds whatever arrived, and the caller discards the file.
 */
export async function downloadBlobAt(
  ctx: Context,
  repo: RepositoryLike,
  digest: string,
  file: FileHandle,
  position: number,
  opts: GetBlobOptions = {},
): Promise<number> {
  const direct = await socketFetch(ctx, repo, digest, opts, {
    receive: (req) => receive(req, fileSink(file, position)),
    undo: async () => true,
  });
  if (direct !== undefined) return direct;
  const stream = await getBlob(ctx, repo, digest, opts);
  try {
    return await copyToRegion(stream, file, position);
  } catch (e) {
    stream.destroy();
    throw e;
  }
}

/**
 * Copy `input` into `file` from `position` on, in positional writes of about {@link BATCH} bytes;
 * returns the byte count. (A file stream over the handle would do it, but one made with
 * `autoClose: false` keeps the handle referenced, and its `close()` would never resolve.)
 */
async function copyToRegion(input: Readable, file: FileHandle, position: number): Promise<number> {
  let at = position;
  let batch: Buffer[] = [];
  let pending = 0;
  const flush = async () => {
    await writeFully(file, batch, at);
    at += pending;
    batch = [];
    pending = 0;
  };
  for await (const chunk of input as AsyncIterable<Buffer>) {
    batch.push(chunk);
    pending += chunk.length;
    if (pending >= BATCH) await flush();
  }
  await flush();
  return at - position;
}

/** Where a blob fetched over a socket goes (a new file, an upload), and how to take a failed try back. */
export interface SocketTarget {
  /** The GET, its body into the target: socketDownload, or receive into a sink. */
  receive(req: SocketReceiveRequest): Promise<SocketDownloadOutcome>;
  /** Leave the target as it was before the try; false when that cannot be (bytes went on). */
  undo(): Promise<boolean>;
  /**
   * Wait for one of the registry's download slots (default). A pipe does not: it runs in its
   * upload's slot, and its upload's socket is already open, so it must not wait for others.
   */
  slot?: boolean;
}

/**
 * The blob into `target` over a socket of its own (see transport/socket-download.ts), with the
 * authorization the requester already holds; its size, or undefined when this way does not apply
 * (a proxy, a small blob over TLS) or did not work (a 401, an error status, a cut connection):
 * then the target is undone and the requester's way (auth challenges, retries, resume, typed
 * errors) can start over. A digest or size mismatch is final, and so is a failure the target
 * cannot undo.
 */
export async function socketFetch(
  ctx: Context,
  repo: RepositoryLike,
  digest: string,
  opts: GetBlobOptions,
  target: SocketTarget,
): Promise<number | undefined> {
  const { requester } = ctx;
  const signal = opts.signal;
  const ep = await requester.endpoint(repo.registry, signal);
  let url = new URL(apiPath(repo, `blobs/${digest}`), ep.origin);
  if (!requester.http.ownConnection(url, opts.size)) return undefined;
  const { algorithm } = parseDigest(digest);
  const authorization = await requester.auth.authorize(repo.registry, pullScope(repo), signal);
  const what = `blob ${shortDigest(digest)} in ${repoName(repo)}`;
  const progress = (done: number, phase: string) =>
    ctx.progress(opts.onProgress, { id: digest, label: opts.label, done, total: opts.size, phase });
  const release = target.slot === false ? () => {} : await ctx.downloads(repo.registry).acquire(signal);
  try {
    progress(0, 'download');
    for (let hops = 0; hops <= MAX_REDIRECTS; hops++) {
      if (!requester.http.ownConnection(url, opts.size)) return undefined;
      const home = url.origin === ep.origin;
      const headers: Record<string, string> = { 'user-agent': requester.http.userAgent };
      // Credentials belong to the registry's origin only, as in the requester.
      if (home && authorization.header) headers.authorization = authorization.header;
      const started = Date.now();
      try {
        const out = await target.receive({
          url,
          // As in the requester: only the registry's own origin is unverified when insecure.
          insecureTls: home && ep.insecureTls,
          headers,
          digest,
          algorithm,
          size: opts.size,
          what,
          timeouts: requester.http.timeouts,
          signal,
          onBytes: (done) => progress(done, 'download'),
          warm: requester.http.warm,
        });
        if (out.kind === 'stored') {
          ctx.logger?.debug?.(`GET ${redactUrl(url)} -> 200 (${Date.now() - started} ms, socket)`);
          progress(out.size, 'done');
          return out.size;
        }
        ctx.logger?.debug?.(
          `GET ${redactUrl(url)} -> ${out.status} (socket; ${REDIRECTS.has(out.status) ? 'redirect' : 'handing over'})`,
        );
        await target.undo();
        const location = out.headers.location;
        if (!REDIRECTS.has(out.status) || !location) return undefined;
        url = new URL(location, url);
      } catch (e) {
        const undone = await target.undo();
        if (isAbortError(e) || signal?.aborted) throw signal?.reason ?? e;
        if (e instanceof PdError || !undone) throw e;
        ctx.logger?.debug?.(
          `GET ${redactUrl(url)} over a socket failed (${(e as Error).message}); again through the client`,
        );
        return undefined;
      }
    }
    return undefined;
  } finally {
    release();
  }
}
