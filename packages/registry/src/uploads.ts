import { type Digest, DigestMismatchError, parseDigest, toDigest } from '@pd/oci-types';
import { BlobPipe } from './blob-pipe.js';
import { headBlob } from './blobs.js';
import { apiPath, type Context, pullScope, pushScope } from './context.js';
import {
  AuthError,
  connectionError,
  isAbortError,
  NotFoundError,
  RegistryError,
  type Subject,
} from './errors.js';
import type { RegistryResponse } from './requester.js';
import { FileBody } from './transport/file-body.js';
import { discard, header } from './transport/http.js';
import type { PouredBody } from './transport/poured-body.js';
import { isRetryableError, isRetryableStatus, RetryBudget, sleep } from './transport/retry.js';
import {
  type CallOptions,
  type RepositoryLike,
  repoName,
  shortDigest,
  type TransferOptions,
  toSourceRepository,
} from './types.js';
import { type OpenSource, UploadSource } from './upload-source.js';

export type { OpenSource } from './upload-source.js';

/** Options of `uploadBlob`. */
export interface UploadOptions extends TransferOptions {
  /** The blob's digest, when known: enables the existence check, mounts and a monolithic PUT. */
  digest?: string | undefined;
  /** The blob's size, when known: sent as Content-Length and checked. */
  size?: number | undefined;
  /**
   * Upload in PATCH chunks of this many bytes (each buffered, so keep it modest; raised to the
   * registry's `OCI-Chunk-Min-Length`). Default: one request.
   */
  chunkSize?: number | undefined;
  /** Repositories of the same registry that may hold the blob: try a cross-repository mount first. */
  mountFrom?: RepositoryLike | string | ReadonlyArray<RepositoryLike | string> | undefined;
  /**
   * Skip the upload when the repository has the blob (default true when the digest is known): a
   * HEAD first, or with `mountFrom`, a mount (it answers 201 when the target has the blob too)
   * and a HEAD only when no mount took.
   */
  skipExisting?: boolean | undefined;
  /**
   * With `digest`: the source checks its own bytes against it and fails before its end when they
   * differ (a verified layer stream), so they are not hashed a second time here. The registry still
   * checks the digest of what it received.
   */
  sourceVerified?: boolean | undefined;
  /**
   * Where the blob sits in a local file, `size` bytes from `start` (default 0); needs `digest`
   * and `size`. One-request uploads read it instead of `open`'s stream: straight to the registry
   * (no proxy; over HTTPS from 8 MiB on), from the file onto a socket of their own. Its bytes are
   * hashed on the way and the last of them sent only once they match `digest`. Chunked uploads
   * still read `open`.
   */
  file?: { path: string; start?: number | undefined } | undefined;
  /**
   * Another repository, of any registry, that holds the blob and this client may read; needs
   * `digest` and `size`. Straight to both registries (no proxy; over HTTPS from 8 MiB on) the
   * bytes go from its GET's socket to the upload's, verified on the way, with the last of them
   * sent only once they match `digest`. Otherwise (a proxy, a GET not answered with the blob)
   * `open` is read as without it. A repository of the target's registry is better given as
   * `mountFrom`.
   */
  from?: RepositoryLike | string | undefined;
}

/** What `uploadBlob` did: the blob's digest and size, and how it got there. */
export interface UploadResult {
  digest: Digest;
  /** Size in bytes; -1 for a mounted blob whose size was neither given nor reported. */
  size: number;
  /** `existed`: already there; `mounted`: linked from another repository; `uploaded`: bytes were sent. */
  how: 'uploaded' | 'mounted' | 'existed';
}

/** Largest body sent with `POST ?digest=`: Go servers that ignore it still drain this much (net/http). */
const SINGLE_POST_LIMIT = 256 * 1024;
const OCTET = 'application/octet-stream';

/** The upload session is gone or unusable: start a new one from the first byte. */
class RestartUpload extends Error {
  constructor(readonly reason: unknown) {
    super('upload must restart');
  }
}

/**
 * Upload a blob. With a known digest: try mounts (else skip when present), then POST+PUT (or a
 * single POST for small blobs where the registry accepts it). Without: stream a PATCH while
 * hashing, then PUT the digest. With `chunkSize`: PATCH chunk by chunk. A failed PATCH asks the
 * registry where the upload stands (GET Location) and resumes from there; anything else that
 * fails retryably starts over from a re-opened source.
 */
export async function uploadBlob(
  ctx: Context,
  repo: RepositoryLike,
  open: OpenSource,
  opts: UploadOptions = {},
): Promise<UploadResult> {
  const expected = opts.digest !== undefined ? toDigest(opts.digest) : undefined;
  const algorithm = expected ? parseDigest(expected).algorithm : 'sha256';
  const what = `blob ${expected ? shortDigest(expected) : '(streamed)'} to ${repoName(repo)}`;
  const subject: Subject = { registry: repo.registry, repository: repo.repository, what, action: 'push' };
  const { signal } = opts;
  const id = expected ?? opts.label ?? what;
  const progress = (done: number, phase: string) =>
    ctx.progress(opts.onProgress, { id, label: opts.label, done, total: opts.size, phase });

  // Mount sources that can take a mount: same registry, another repository.
  const sources = expected && opts.mountFrom ? mountSources(repo, opts.mountFrom) : [];
  const skipExisting = opts.skipExisting !== false;
  const release = await ctx.uploads(repo.registry).acquire(signal);
  try {
    // A mount answers 201 whether the source holds the blob or the target already does, so with
    // a source the HEAD waits for a mount that did not take (one request per blob saved, as
    // skopeo saves it). Without one, the HEAD comes first.
    if (expected && skipExisting && sources.length === 0) {
      const head = await headBlob(ctx, repo, expected, { signal });
      if (head) {
        progress(head.size, 'exists');
        return { digest: expected, size: head.size, how: 'existed' };
      }
    }
    let location: URL | undefined;
    if (expected) {
      for (const from of sources) {
        const r = await tryMount(ctx, repo, expected, from, signal);
        if (r.mounted) {
          const size = opts.size ?? (await headBlob(ctx, repo, expected, { signal }))?.size ?? -1;
          progress(size, 'mounted');
          return { digest: expected, size, how: 'mounted' };
        }
        if (r.location) {
          if (location) await cancelUpload(ctx, repo, location);
          location = r.location;
        }
      }
    }
    // No mount took (the sources lack the blob, or refused): the target may still hold it.
    if (expected && skipExisting && sources.length > 0) {
      const head = await headBlob(ctx, repo, expected, { signal });
      if (head) {
        if (location) await cancelUpload(ctx, repo, location);
        progress(head.size, 'exists');
        return { digest: expected, size: head.size, how: 'existed' };
      }
    }

    const budget = new RetryBudget(ctx.policy);
    const source = new UploadSource(open, algorithm, {
      digest: expected,
      size: opts.size,
      what,
      verified: opts.sourceVerified,
      keep: opts.size !== undefined && opts.size <= SINGLE_POST_LIMIT,
    });
    const poured = await pouredBody(ctx, repo, source, expected, what, opts, progress);
    const op: Upload = { ctx, repo, subject, source, poured, budget, opts, expected, signal, progress };
    try {
      for (;;) {
        try {
          const result = await attempt(op, location);
          progress(result.size, 'done');
          return result;
        } catch (e) {
          if (location) await cancelUpload(ctx, repo, location);
          location = undefined;
          if (isAbortError(e) || signal?.aborted) throw signal?.aborted ? signal.reason : e;
          const cause = e instanceof RestartUpload ? e.reason : e;
          if (!(e instanceof RestartUpload) && !recoverable(e)) throw e;
          const delay = budget.next();
          if (delay === undefined) throw finalError(cause, repo);
          ctx.logger?.debug?.(`${what}: starting over in ${Math.round(delay)} ms`);
          await sleep(delay, signal);
        }
      }
    } finally {
      source.close();
    }
  } finally {
    release();
  }
}

/**
 * The body of one-request uploads when it need not be a stream: the blob's file
 * (`UploadOptions.file`), or its GET from another registry (`UploadOptions.from`).
 */
async function pouredBody(
  ctx: Context,
  repo: RepositoryLike,
  source: UploadSource,
  digest: Digest | undefined,
  what: string,
  opts: UploadOptions,
  progress: (done: number, phase: string) => void,
): Promise<PouredBody | undefined> {
  const { size, signal } = opts;
  if (!digest || size === undefined) return undefined;
  const onBytes = (n: number) => progress(n, 'upload');
  if (opts.file !== undefined) {
    return new FileBody(opts.file.path, { start: opts.file.start, size, digest, what, onBytes });
  }
  // A small blob goes in one POST where the registry takes it, through the client's kept-alive
  // connections; the bytes are kept for the PUT that follows where it does not.
  if (opts.from === undefined || size <= SINGLE_POST_LIMIT) return undefined;
  // Only a source whose GET gets a connection of its own can be piped (straight to it, over HTTPS
  // from 8 MiB on); any other is streamed, so that its wait for a download slot happens before the
  // upload's request, not inside it.
  const from = toSourceRepository(repo, opts.from);
  const ep = await ctx.requester.endpoint(from.registry, signal);
  if (!ctx.requester.http.ownConnection(new URL(ep.origin), size)) return undefined;
  const stream = async () => {
    await source.reset();
    return source.rest(onBytes);
  };
  return new BlobPipe(ctx, from, { digest, size }, stream, { signal, onBytes });
}

interface Upload {
  ctx: Context;
  repo: RepositoryLike;
  subject: Subject;
  source: UploadSource;
  /** The body of one-request uploads when it is a file or a pipe (see pouredBody). */
  poured: PouredBody | undefined;
  budget: RetryBudget;
  opts: UploadOptions;
  expected: Digest | undefined;
  signal: AbortSignal | undefined;
  progress: (done: number, phase: string) => void;
}

async function attempt(op: Upload, given: URL | undefined): Promise<UploadResult> {
  const { ctx, repo, opts, expected } = op;
  op.progress(0, 'upload');
  let location = given;
  let minChunk = 0;
  if (!location) {
    const small = opts.size !== undefined && opts.size <= SINGLE_POST_LIMIT;
    if (expected && small && !opts.chunkSize && !ctx.noSinglePost.has(repo.registry)) {
      const r = await singlePost(op, expected);
      if ('result' in r) return r.result;
      location = r.location;
    } else {
      const started = await startUpload(op);
      location = started.location;
      minChunk = started.minChunk;
    }
  }
  if (opts.chunkSize) return chunked(op, location, Math.max(opts.chunkSize, minChunk));
  if (expected) return monolithic(op, location, expected);
  return streamed(op, location);
}

async function startUpload(op: Upload, query = ''): Promise<{ location: URL; minChunk: number }> {
  const res = await op.ctx.requester.send({
    registry: op.repo.registry,
    method: 'POST',
    path: apiPath(op.repo, `blobs/uploads/${query}`),
    headers: { 'content-length': '0' },
    scopes: pushScope(op.repo),
    ok: [202],
    subject: op.subject,
    signal: op.signal,
  });
  await discard(res.body);
  const min = Number(header(res.headers, 'oci-chunk-min-length'));
  return { location: locationOf(res, op), minChunk: Number.isFinite(min) && min > 0 ? min : 0 };
}

/**
 * One request whose body is the whole source, rewound for each attempt. Never retried by the
 * requester: an upload request is not idempotent, its callers decide what to do after a failure.
 */
function sendWhole(
  op: Upload,
  method: 'POST' | 'PUT',
  path: string | URL,
  headers: Record<string, string>,
  ok: number[],
) {
  const { ctx, repo, source, poured } = op;
  return ctx.requester.send({
    registry: repo.registry,
    method,
    path,
    headers: { 'content-type': OCTET, ...headers },
    body: async () => {
      if (poured) return poured;
      await source.reset();
      return source.rest((n) => op.progress(n, 'upload'));
    },
    scopes: pushScope(repo),
    ok,
    subject: op.subject,
    signal: op.signal,
    retry: false,
  });
}

/** `POST ?digest=` with the body: one request where the registry supports it (201), else a session (202). */
async function singlePost(op: Upload, digest: Digest): Promise<{ result: UploadResult } | { location: URL }> {
  const { ctx, repo, source } = op;
  const res = await sendWhole(
    op,
    'POST',
    apiPath(repo, `blobs/uploads/?digest=${encodeURIComponent(digest)}`),
    { 'content-length': String(op.opts.size) },
    [201, 202],
  );
  await discard(res.body);
  if (res.status === 201) {
    checkStored(res, digest, op);
    return { result: { digest, size: op.opts.size ?? source.position, how: 'uploaded' } };
  }
  // The registry opened a session and ignored the body: remember, and never send it twice again.
  ctx.noSinglePost.add(repo.registry);
  ctx.logger?.debug?.(`${repo.registry} ignores bodies on POST ?digest=; using POST + PUT`);
  return { location: locationOf(res, op) };
}

async function monolithic(op: Upload, location: URL, digest: Digest): Promise<UploadResult> {
  const { source, opts } = op;
  const res = await sendWhole(
    op,
    'PUT',
    withDigest(location, digest),
    opts.size !== undefined ? { 'content-length': String(opts.size) } : {},
    [201, 204],
  );
  await discard(res.body);
  checkStored(res, digest, op);
  return { digest, size: opts.size ?? source.position, how: 'uploaded' };
}

/** Digest unknown: one streaming PATCH (hashing as it goes), resumed from the registry's offset on failure. */
async function streamed(op: Upload, location: URL): Promise<UploadResult> {
  const { source, opts } = op;
  let offset = 0;
  let loc = location;
  for (;;) {
    const from = offset;
    const size = opts.size;
    try {
      const res = await op.ctx.requester.send({
        registry: op.repo.registry,
        method: 'PATCH',
        path: loc,
        headers: {
          'content-type': OCTET,
          ...(size !== undefined ? { 'content-length': String(size - from) } : {}),
          ...(size !== undefined && size > from ? { 'content-range': `${from}-${size - 1}` } : {}),
        },
        body: async () => {
          await source.reset();
          await source.skipTo(from);
          return source.rest((n) => op.progress(n, 'upload'));
        },
        scopes: pushScope(op.repo),
        ok: [202, 204],
        subject: op.subject,
        signal: op.signal,
        retry: false,
      });
      await discard(res.body);
      loc = locationOf(res, op, loc);
      const held = heldBytes(res);
      const sent = source.position;
      if (held !== undefined && held !== sent && !(held === 0 && sent <= 1)) {
        throw new RestartUpload(new Error(`registry holds ${held} bytes, sent ${sent}`));
      }
      break;
    } catch (e) {
      if (e instanceof RestartUpload) throw e;
      const status = await recover(op, e, loc);
      loc = status.location;
      offset = status.offset;
    }
  }
  // Normally read to the end by the PATCH body; after a resume that found everything already
  // on the registry, hash what was not re-read.
  await source.drain();
  const { digest, size } = source.result();
  await finalize(op, loc, digest);
  return { digest, size, how: 'uploaded' };
}

async function chunked(op: Upload, location: URL, chunkSize: number): Promise<UploadResult> {
  const { source } = op;
  await source.reset();
  let loc = location;
  let offset = 0;
  for (;;) {
    const chunk = await source.read(chunkSize);
    if (!chunk) break;
    loc = await patchChunk(op, loc, chunk, offset);
    offset += chunk.length;
    op.budget.progress();
    op.progress(offset, 'upload');
  }
  const { digest, size } = source.result();
  await finalize(op, loc, digest);
  return { digest, size, how: 'uploaded' };
}

async function patchChunk(op: Upload, location: URL, chunk: Buffer, start: number): Promise<URL> {
  let loc = location;
  let from = start;
  const end = start + chunk.length;
  for (;;) {
    try {
      const res = await op.ctx.requester.send({
        registry: op.repo.registry,
        method: 'PATCH',
        path: loc,
        headers: {
          'content-type': OCTET,
          'content-length': String(end - from),
          'content-range': `${from}-${end - 1}`,
        },
        body: chunk.subarray(from - start),
        scopes: pushScope(op.repo),
        ok: [202, 204],
        subject: op.subject,
        signal: op.signal,
        retry: false,
      });
      await discard(res.body);
      loc = locationOf(res, op, loc);
      const held = heldBytes(res);
      if (held === undefined || held === end || (held === 0 && end <= 1)) return loc;
      // The registry kept less (or more) than was sent: continue from what it says it holds.
      if (held < start || held > end)
        throw new RestartUpload(new Error(`registry holds ${held} bytes, expected ${end}`));
      from = held;
    } catch (e) {
      if (e instanceof RestartUpload) throw e;
      const status = await recover(op, e, loc);
      if (status.offset < start || status.offset > end) throw new RestartUpload(e);
      loc = status.location;
      if (status.offset === end) return loc;
      from = status.offset;
    }
  }
}

/**
 * After a failed PATCH: wait, then ask the registry how much of the upload it holds. Throws
 * RestartUpload when the session is gone (distribution cancels sessions whose state went stale).
 */
async function recover(op: Upload, e: unknown, location: URL): Promise<{ location: URL; offset: number }> {
  if (isAbortError(e) || op.signal?.aborted) throw op.signal?.aborted ? op.signal.reason : e;
  if (!recoverable(e)) throw e;
  const delay = op.budget.next();
  if (delay === undefined) throw finalError(e, op.repo);
  await sleep(delay, op.signal);
  const status = await uploadStatus(op, location);
  if (!status) throw new RestartUpload(e);
  op.ctx.logger?.debug?.(`${op.subject.what}: resuming at byte ${status.offset}`);
  return status;
}

async function uploadStatus(
  op: Upload,
  location: URL,
): Promise<{ location: URL; offset: number } | undefined> {
  const res = await op.ctx.requester.send({
    registry: op.repo.registry,
    method: 'GET',
    path: location,
    scopes: pushScope(op.repo),
    ok: [200, 204, 400, 404],
    subject: op.subject,
    signal: op.signal,
  });
  await discard(res.body);
  if (res.status === 400 || res.status === 404) return undefined;
  return { location: locationOf(res, op, location), offset: heldBytes(res) ?? 0 };
}

/**
 * How many bytes an upload session holds, from its `Range: 0-<last>` header. distribution
 * reports an empty session as "0-0", the same as one byte; 0 is the safe reading.
 */
function heldBytes(res: RegistryResponse): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header(res.headers, 'range') ?? '');
  if (!m?.[1]) return undefined;
  const last = Number(m[1]);
  return last > 0 ? last + 1 : 0;
}

async function finalize(op: Upload, location: URL, digest: Digest): Promise<void> {
  const { expected } = op;
  if (expected && expected !== digest) throw new DigestMismatchError(op.subject.what, expected, digest);
  try {
    const res = await op.ctx.requester.send({
      registry: op.repo.registry,
      method: 'PUT',
      path: withDigest(location, digest),
      headers: { 'content-type': OCTET, 'content-length': '0' },
      body: '',
      scopes: pushScope(op.repo),
      ok: [201, 204],
      subject: op.subject,
      signal: op.signal,
    });
    await discard(res.body);
    checkStored(res, digest, op);
  } catch (e) {
    // A retried PUT whose first try succeeded finds the session closed: the blob is there.
    if (e instanceof NotFoundError && (await headBlob(op.ctx, op.repo, digest, { signal: op.signal })))
      return;
    throw e;
  }
}

/** The repositories of `from` a blob can be mounted from into `repo`: same registry, another repository. */
function mountSources(
  repo: RepositoryLike,
  from: RepositoryLike | string | ReadonlyArray<RepositoryLike | string>,
): RepositoryLike[] {
  const list = (Array.isArray(from) ? from : [from]) as Array<RepositoryLike | string>;
  return list
    .map((f) => toSourceRepository(repo, f))
    .filter((f) => f.registry === repo.registry && f.repository !== repo.repository);
}

async function tryMount(
  ctx: Context,
  repo: RepositoryLike,
  digest: Digest,
  from: RepositoryLike,
  signal: AbortSignal | undefined,
): Promise<{ mounted: true } | { mounted: false; location?: URL }> {
  if (from.registry !== repo.registry || from.repository === repo.repository) return { mounted: false };
  const what = `mount of blob ${shortDigest(digest)} from ${from.repository} to ${repoName(repo)}`;
  let res: RegistryResponse;
  try {
    res = await ctx.requester.send({
      registry: repo.registry,
      method: 'POST',
      path: apiPath(
        repo,
        `blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from.repository)}`,
      ),
      headers: { 'content-length': '0' },
      // Mounting reads the source repository: the token must carry its pull scope too.
      scopes: pushScope(repo).union(pullScope(from)),
      ok: [201, 202],
      subject: { registry: repo.registry, repository: repo.repository, what, action: 'push' },
      signal,
    });
  } catch (e) {
    // No read access to the source: not fatal, the bytes can still be uploaded.
    if (e instanceof AuthError) {
      ctx.logger?.debug?.(`${what}: refused (${e.message}); uploading instead`);
      return { mounted: false };
    }
    throw e;
  }
  await discard(res.body);
  if (res.status === 201) {
    const stored = header(res.headers, 'docker-content-digest');
    if (stored && stored !== digest) throw new DigestMismatchError(what, digest, stored);
    return { mounted: true };
  }
  return {
    mounted: false,
    location: locationOf(res, { ctx, repo, subject: { registry: repo.registry, what } }),
  };
}

/** Cross-repository mount; true when the registry linked the blob (201), false when it declined. */
export async function mountBlob(
  ctx: Context,
  repo: RepositoryLike,
  digest: string,
  from: RepositoryLike,
  opts: CallOptions = {},
): Promise<boolean> {
  const r = await tryMount(ctx, repo, toDigest(digest), from, opts.signal);
  if (!r.mounted && r.location) await cancelUpload(ctx, repo, r.location);
  return r.mounted;
}

/** Best effort: tell the registry to drop an upload session we will not use. */
async function cancelUpload(ctx: Context, repo: RepositoryLike, location: URL): Promise<void> {
  try {
    const res = await ctx.requester.send({
      registry: repo.registry,
      method: 'DELETE',
      path: location,
      scopes: pushScope(repo),
      ok: [200, 202, 204, 404],
      subject: { registry: repo.registry, what: 'upload cancel' },
      retry: false,
    });
    await discard(res.body);
  } catch {
    // the registry purges abandoned uploads on its own
  }
}

function locationOf(
  res: RegistryResponse,
  op: { ctx: Context; repo: RepositoryLike; subject: Subject },
  fallback?: URL,
): URL {
  const loc = header(res.headers, 'location');
  if (!loc) {
    if (fallback) return fallback;
    throw new RegistryError(`${op.subject.what}: the registry sent no upload Location`, {
      registry: op.repo.registry,
      status: res.status,
      hint: 'the registry does not follow the distribution API',
    });
  }
  return new URL(loc, res.url);
}

function withDigest(location: URL, digest: Digest): URL {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u;
}

function checkStored(res: RegistryResponse, digest: Digest, op: Upload): void {
  const stored = header(res.headers, 'docker-content-digest');
  if (stored && stored !== digest)
    throw new DigestMismatchError(`${op.subject.what} as stored`, digest, stored);
}

/** Failures a new attempt may cure: resets, timeouts, 5xx, 429. */
function recoverable(e: unknown): boolean {
  if (e instanceof RegistryError && e.status !== undefined) return isRetryableStatus(e.status);
  return isRetryableError(e);
}

function finalError(e: unknown, repo: RepositoryLike): unknown {
  return e instanceof Error && !(e instanceof RegistryError) && isRetryableError(e)
    ? connectionError(e, repo.registry, repo.registry)
    : e;
}
