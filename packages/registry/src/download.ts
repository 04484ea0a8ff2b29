import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
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
  // Watched from here on: a stream that fails while the file opens is a rejection below, not an
  // unhandled 'error'.
  const ended = finished(stream);
  ended.catch(() => undefined);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let size = 0;
  try {
    const file = await open(tmp, 'wx');
    try {
      size = await copyInBatches(stream, ended, file);
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

/**
 * The stream's bytes appended to `file` in writes of about {@link BATCH}; `ended` is the stream's
 * finished(). Flowing mode, paused while a batch is written: an async iterator would read() the
 * stream's buffer, which concatenates (copies) the chunks waiting in it.
 */
function copyInBatches(stream: Readable, ended: Promise<void>, file: FileHandle): Promise<number> {
  let batch: Buffer[] = [];
  let pending = 0;
  let size = 0;
  const write = async (buffers: Buffer[]) => {
    const total = buffers.reduce((n, b) => n + b.length, 0);
    let { bytesWritten } = await file.writev(buffers);
    if (bytesWritten === total) return;
    // writev may write less than asked: the rest goes on from where it stopped.
    const all = Buffer.concat(buffers);
    while (bytesWritten < total) {
      bytesWritten += (await file.write(all, bytesWritten, total - bytesWritten)).bytesWritten;
    }
  };
  stream.on('data', (chunk: Buffer) => {
    batch.push(chunk);
    pending += chunk.length;
    size += chunk.length;
    if (pending < BATCH) return;
    const full = batch;
    batch = [];
    pending = 0;
    stream.pause();
    write(full).then(
      () => stream.resume(),
      (e: unknown) => stream.destroy(e as Error),
    );
  });
  return ended.then(async () => {
    if (batch.length > 0) await write(batch);
    return size;
  });
}
