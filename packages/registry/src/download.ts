import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Digest } from '@pd/oci-types';
import { type GetBlobOptions, getBlob } from './blobs.js';
import type { Context } from './context.js';
import type { RepositoryLike } from './types.js';

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
  // @pd/tar's batched file writer, loaded by the first download: the client's other calls do not
  // pay for it at start-up. Loaded before the stream opens, so nothing awaits in between.
  const { writeStreamToFile } = await import('@pd/tar');
  const stream = await getBlob(ctx, repo, digest, opts);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const size = await writeStreamToFile(tmp, stream);
    await rename(tmp, path);
    return { digest: digest as Digest, size, path };
  } catch (e) {
    stream.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
}
