import { closeSync, constants, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { PdError } from '@pd/oci-types';
import { END_OF_ARCHIVE, encodeHeader, padding } from './header.js';
import type { PlannedEntry } from './plan.js';

/*
 * Headers are written by hand (header.ts) rather than with tar-stream's pack: reproducible layers
 * need exact control over which fields go to PAX, the ustar name/prefix split, the order of PAX
 * records and the PAX header's own name and fields (GNU tar, for one, puts its process id there),
 * and a layer writer that emits one header per entry into a plain generator avoids the per-entry
 * stream objects a pack stream creates on trees of many small files.
 */

/** Output is coalesced into chunks of about this size; larger file chunks pass straight through. */
const COALESCE = 256 * 1024;
/**
 * Files up to this size are read with synchronous open/read/close: a few microseconds each, where
 * the promise API costs a threadpool round trip per call (measured 4x slower on small files).
 * Bigger files are streamed asynchronously in BIG_CHUNK pieces.
 */
const SMALL_FILE = 256 * 1024;
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

function readWhole(path: string, size: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const buf = Buffer.allocUnsafe(size);
    let have = 0;
    while (have < size) {
      const n = readSync(fd, buf, have, size - have, have);
      if (n === 0) throw new FileChangedError(path, size, have);
      have += n;
    }
    return buf;
  } finally {
    closeSync(fd);
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
 * The archive bytes of a finalized plan (or of entries in its order as a walk finds them), in
 * chunks of at least COALESCE bytes (but the last).
 */
export async function* writeTar(
  plan: Iterable<PlannedEntry> | AsyncIterable<PlannedEntry>,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
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
  for await (const e of plan) {
    signal?.throwIfAborted();
    push(encodeHeader(e.header));
    const size = e.header.size;
    if (e.source.kind === 'data') {
      push(e.source.data);
    } else if (e.source.kind === 'file') {
      if (size <= SMALL_FILE) {
        push(readWhole(e.source.path, size));
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
}
