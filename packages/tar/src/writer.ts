import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { PdError } from '@pd/oci-types';
import { END_OF_ARCHIVE, encodeHeader, padding } from './header.js';
import type { PlannedEntry } from './plan.js';

/*
 * Headers are written by hand (header.ts) rather than with tar-stream's pack: we need exact
 * control over which fields go to PAX, the ustar name/prefix split, record order and the PAX
 * header's own name (tar-stream and GNU tar derive some of these from the host or time), and
 * skipping its per-entry stream machinery is several times faster on trees of small files.
 */

/** Output is coalesced into chunks of about this size; larger file chunks pass straight through. */
const COALESCE = 256 * 1024;
/** Files up to this size are read whole, several at once ahead of the writer. */
const SMALL_FILE = 512 * 1024;
const READ_AHEAD_FILES = 32;
const READ_AHEAD_BYTES = 16 << 20;
const BIG_CHUNK = 1 << 20;

/** A host file no longer has the size it had when the tree was scanned. */
export class FileChangedError extends PdError {
  constructor(path: string, expected: number, got: number) {
    super(`file changed while it was archived: ${path}`, {
      code: 'FILE_CHANGED',
      hint: `expected ${expected} bytes, read ${got}; do not modify the tree while a layer is made of it`,
    });
  }
}

async function readWhole(path: string, size: number): Promise<Buffer> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buf = Buffer.allocUnsafe(size);
    let have = 0;
    while (have < size) {
      const { bytesRead } = await fh.read(buf, have, size - have, have);
      if (bytesRead === 0) throw new FileChangedError(path, size, have);
      have += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

async function* readStreaming(
  path: string,
  size: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let pos = 0;
    while (pos < size) {
      signal?.throwIfAborted();
      const buf = Buffer.allocUnsafe(Math.min(BIG_CHUNK, size - pos));
      let have = 0;
      while (have < buf.length) {
        const { bytesRead } = await fh.read(buf, have, buf.length - have, pos + have);
        if (bytesRead === 0) throw new FileChangedError(path, size, pos + have);
        have += bytesRead;
      }
      pos += have;
      yield buf;
    }
  } finally {
    await fh.close();
  }
}

/**
 * The archive bytes of a finalized plan. Small files are read ahead concurrently (bounded by
 * count and bytes) so the threadpool keeps the disk busy while the consumer hashes and compresses.
 */
export async function* writeTar(plan: PlannedEntry[], signal?: AbortSignal): AsyncGenerator<Buffer> {
  const ahead = new Map<number, Promise<Buffer>>();
  let aheadBytes = 0;
  let next = 0; // next plan index to consider for read-ahead
  const isSmallFile = (e: PlannedEntry) => e.source.kind === 'file' && e.header.size <= SMALL_FILE;
  const fill = (from: number) => {
    if (next < from) next = from;
    while (next < plan.length && ahead.size < READ_AHEAD_FILES && aheadBytes < READ_AHEAD_BYTES) {
      const e = plan[next]!;
      if (e.source.kind === 'file' && isSmallFile(e)) {
        const p = readWhole(e.source.path, e.header.size);
        p.catch(() => undefined); // observed when its turn comes
        ahead.set(next, p);
        aheadBytes += e.header.size;
      } else if (e.source.kind === 'file') {
        break; // a big file is streamed in order; do not read past it
      }
      next++;
    }
  };

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const push = (b: Buffer) => {
    pending.push(b);
    pendingBytes += b.length;
  };
  const take = () => {
    const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out;
  };

  try {
    for (let i = 0; i < plan.length; i++) {
      signal?.throwIfAborted();
      const e = plan[i]!;
      fill(i);
      push(encodeHeader(e.header));
      const size = e.header.size;
      if (e.source.kind === 'data') {
        push(e.source.data);
      } else if (e.source.kind === 'file') {
        const early = ahead.get(i);
        if (early) {
          ahead.delete(i);
          aheadBytes -= size;
          push(await early);
        } else {
          if (pendingBytes) yield take();
          for await (const chunk of readStreaming(e.source.path, size, signal)) yield chunk;
        }
      }
      const pad = padding(size);
      if (pad) push(END_OF_ARCHIVE.subarray(0, pad));
      if (pendingBytes >= COALESCE) yield take();
    }
    push(END_OF_ARCHIVE);
    yield take();
  } finally {
    // Reads still in flight after an error or early stop: let them settle unobserved.
    for (const p of ahead.values()) p.catch(() => undefined);
  }
}
