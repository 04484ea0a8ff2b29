import type { FileHandle } from 'node:fs/promises';

/** Bytes in `buffers`. */
export function byteLength(buffers: readonly Uint8Array[]): number {
  return buffers.reduce((n, b) => n + b.byteLength, 0);
}

/**
 * Write every byte of `buffers` at `position`, or at the handle's current position when none is
 * given: writev may write less, and the rest goes on from the first byte it left. @pd/tar's batched
 * writer and @pd/registry's downloads into a file region both write through it.
 */
export async function writeFully(fh: FileHandle, buffers: Uint8Array[], position?: number): Promise<void> {
  const size = byteLength(buffers);
  if (size === 0) return;
  const { bytesWritten } = await fh.writev(buffers, position);
  if (bytesWritten === size) return;
  let skip = bytesWritten;
  let at = position === undefined ? undefined : position + bytesWritten;
  for (const b of buffers) {
    if (skip >= b.byteLength) {
      skip -= b.byteLength;
      continue;
    }
    let off = skip;
    skip = 0;
    while (off < b.byteLength) {
      const n = (await fh.write(b, off, b.byteLength - off, at)).bytesWritten;
      off += n;
      if (at !== undefined) at += n;
    }
  }
}
