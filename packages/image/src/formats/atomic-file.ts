import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A hidden temporary name beside `path`, on the same filesystem so that rename is atomic. */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.pd-tmp`);
}

/**
 * Create `path` through a temporary file beside it: `fill` writes, the data is synced, then the file
 * is renamed into place. On any failure the temporary file is removed and `path` is untouched.
 */
export async function writeFileAtomically(
  path: string,
  fill: (fh: FileHandle) => Promise<void>,
): Promise<void> {
  const tmp = tempPathBeside(path);
  const fh = await open(tmp, 'wx', 0o644);
  let ok = false;
  try {
    await fill(fh);
    await fh.sync();
    ok = true;
  } finally {
    await fh.close().catch(() => undefined);
    if (!ok) await rm(tmp, { force: true });
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Write every byte of `buffers` at the handle's current position (writev may write less). */
export async function writeAll(fh: FileHandle, buffers: Uint8Array[]): Promise<void> {
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  if (total === 0) return;
  const { bytesWritten } = await fh.writev(buffers);
  if (bytesWritten === total) return;
  let skip = bytesWritten;
  for (const b of buffers) {
    if (skip >= b.byteLength) {
      skip -= b.byteLength;
      continue;
    }
    let off = skip;
    skip = 0;
    while (off < b.byteLength) off += (await fh.write(b, off, b.byteLength - off)).bytesWritten;
  }
}
