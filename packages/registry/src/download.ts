import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Digest } from '@pd/oci-types';
import { type GetBlobOptions, getBlob } from './blobs.js';
import type { Context } from './context.js';
import type { RepositoryLike } from './types.js';

// Writes are gathered to about this size: far fewer syscalls and thread-pool trips than one per
// 64 KiB socket read, without holding more than this in memory.
const BATCH = 1 << 20;

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
  let size = 0;
  try {
    const file = await open(tmp, 'wx');
    try {
      let batch: Buffer[] = [];
      let pending = 0;
      for await (const chunk of stream) {
        const buf = chunk as Buffer;
        batch.push(buf);
        pending += buf.length;
        size += buf.length;
        if (pending >= BATCH) {
          await file.writev(batch);
          batch = [];
          pending = 0;
        }
      }
      if (batch.length > 0) await file.writev(batch);
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    stream.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
  return { digest: digest as Digest, size, path };
}
