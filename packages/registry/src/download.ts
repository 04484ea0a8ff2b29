import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Digest } from '@pd/oci-types';
import { type GetBlobOptions, getBlob } from './blobs.js';
import type { Context } from './context.js';
import type { RepositoryLike } from './types.js';

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
  const stream = await getBlob(ctx, repo, digest, opts);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
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
