#!/usr/bin/env node
// A floor for unpacking uncompressed layers (issue 15): what a Node program spends on the part of
// `pd export docker-archive:FILE DIR` that every byte costs, with no tar code at all. Each layer
// tar is read in 1 MiB pieces, each piece hashed (the diffID an unpacker must check) and written,
// and each layer goes to one file in DIR as it is: no headers parsed, no entries made, no per-file
// calls. The hash runs on the main thread; the reads and the writes on the thread pool, beside it:
// a piece is written while the next is hashed, through three buffers (one read into, one hashed,
// one written). Writing each piece synchronously after its hash took 0.34-0.40 s here against
// 0.27-0.31 s this way (317 MB, 2 cores). One hash thread fed the same pieces through shared
// buffers took as long as the synchronous writes, since a thread's start (50-80 ms) and the
// writes' CPU eat what it frees.
// Usage: node bench/cases/unpack-job-floor.mjs DIR LAYER.tar...
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { keepFreedMemory } from '../lib/malloc.mjs';

keepFreedMemory();

const PIECE = 1 << 20;
const [dir, ...layers] = process.argv.slice(2);
const buffers = [0, 1, 2].map(() => Buffer.allocUnsafeSlow(PIECE));

/** Write all of `piece` at `position`. */
async function writeAt(out, piece, position) {
  for (let off = 0; off < piece.length; )
    off += (await out.write(piece, off, piece.length - off, position + off)).bytesWritten;
}

for (const [i, layer] of layers.entries()) {
  const input = await open(layer, 'r');
  const out = await open(join(dir, `layer-${i}`), 'wx');
  const hash = createHash('sha256');
  let turn = 0;
  let at = 0;
  // The write of the piece before, still running (its buffer is not read into meanwhile).
  let writing = Promise.resolve();
  let reading = input.read(buffers[turn], 0, PIECE, at);
  for (;;) {
    const { bytesRead, buffer } = await reading;
    if (bytesRead === 0) break;
    const position = at;
    at += bytesRead;
    turn = (turn + 1) % buffers.length;
    reading = input.read(buffers[turn], 0, PIECE, at);
    const piece = buffer.subarray(0, bytesRead);
    hash.update(piece);
    await writing;
    writing = writeAt(out, piece, position);
  }
  await writing;
  await out.close();
  await input.close();
  hash.digest('hex');
}
