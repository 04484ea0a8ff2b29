import type { Readable } from 'node:stream';
import { type Digest, parseDigest, SizeMismatchError } from '@pd/oci-types';
import { VerifiedBlobStream } from './blob-stream.js';
import { apiPath, type Context, deleteScope, pullScope } from './context.js';
import type { RegistryResponse } from './requester.js';
import { abandon, discard, header } from './transport/http.js';
import { RetryBudget } from './transport/retry.js';
import {
  type CallOptions,
  type RepositoryLike,
  repoName,
  shortDigest,
  type TransferOptions,
} from './types.js';

/** Options of `getBlob` and `downloadBlob`. */
export interface GetBlobOptions extends TransferOptions {
  /** Size from the descriptor: checked against Content-Length and the bytes. */
  size?: number | undefined;
}

/** What `headBlob` tells of a blob the repository holds. */
export interface BlobHead {
  /** The digest asked for. */
  digest: Digest;
  /** `Content-Length` in bytes; -1 when the registry sent none. */
  size: number;
}

/**
 * Open a blob as a verified stream. The bytes are hashed as they pass; the stream fails instead
 * of ending when the digest or size is wrong, and the last chunk is held back until the check
 * passed, so a consumer never sees the complete content of a bad blob. An interrupted body is
 * resumed with `Range` (hashing continues across the resume) or, where the registry ignores
 * ranges, fetched again with the already-delivered prefix skipped.
 *
 * Holds one of the registry's download slots until the stream ends or is destroyed: consume it
 * or destroy it.
 */
export async function getBlob(
  ctx: Context,
  repo: RepositoryLike,
  digest: string,
  opts: GetBlobOptions = {},
): Promise<Readable> {
  const { algorithm } = parseDigest(digest);
  const what = `blob ${shortDigest(digest)} in ${repoName(repo)}`;
  const subject = { registry: repo.registry, repository: repo.repository, what, action: 'pull' };
  const signal = opts.signal;
  const budget = new RetryBudget(ctx.policy);
  const fetchFrom = (offset: number) =>
    ctx.requester.send({
      registry: repo.registry,
      method: 'GET',
      path: apiPath(repo, `blobs/${digest}`),
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: pullScope(repo),
      ok: offset > 0 ? [200, 206] : [200],
      subject,
      signal,
      followRedirects: true,
      budget,
    });

  const release = await ctx.downloads(repo.registry).acquire(signal);
  let first: RegistryResponse;
  try {
    first = await fetchFrom(0);
  } catch (e) {
    release();
    throw e;
  }
  const length = Number(header(first.headers, 'content-length'));
  if (opts.size !== undefined && Number.isFinite(length) && length !== opts.size) {
    release();
    abandon(first.body);
    throw new SizeMismatchError(what, opts.size, length);
  }
  const total = opts.size ?? (Number.isFinite(length) ? length : undefined);
  const progress = (done: number, phase: string) =>
    ctx.progress(opts.onProgress, { id: digest, label: opts.label, done, total, phase });
  progress(0, 'download');

  return new VerifiedBlobStream(first, {
    digest,
    algorithm,
    size: opts.size,
    what,
    registry: repo.registry,
    budget,
    signal,
    timeouts: ctx.requester.http.timeouts,
    logger: ctx.logger,
    fetchFrom,
    onBytes: (done) => progress(done, 'download'),
    onDone: (done) => progress(done, 'done'),
    release,
  });
}

/** HEAD a blob: its size when the repository holds it, else undefined. */
export async function headBlob(
  ctx: Context,
  repo: RepositoryLike,
  digest: string,
  opts: CallOptions = {},
): Promise<BlobHead | undefined> {
  parseDigest(digest);
  const res = await ctx.requester.send({
    registry: repo.registry,
    method: 'HEAD',
    path: apiPath(repo, `blobs/${digest}`),
    scopes: pullScope(repo),
    ok: [200, 404],
    subject: {
      registry: repo.registry,
      repository: repo.repository,
      what: `blob ${shortDigest(digest)} in ${repoName(repo)}`,
      action: 'pull',
    },
    signal: opts.signal,
    followRedirects: true,
  });
  await discard(res.body);
  if (res.status === 404) return undefined;
  const size = Number(header(res.headers, 'content-length'));
  return { digest: digest as Digest, size: Number.isFinite(size) ? size : -1 };
}

export async function deleteBlob(
  ctx: Context,
  repo: RepositoryLike,
  digest: string,
  opts: CallOptions = {},
): Promise<void> {
  parseDigest(digest);
  const res = await ctx.requester.send({
    registry: repo.registry,
    method: 'DELETE',
    path: apiPath(repo, `blobs/${digest}`),
    scopes: deleteScope(repo),
    ok: [200, 202, 204],
    subject: {
      registry: repo.registry,
      repository: repo.repository,
      what: `blob ${shortDigest(digest)} in ${repoName(repo)}`,
      action: 'delete',
    },
    signal: opts.signal,
  });
  await discard(res.body);
}
