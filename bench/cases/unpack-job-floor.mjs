#!/usr/bin/env node
// A floor for unpacking uncompressed layers (issue 15): what a Node program spends on the part of
// `pd export docker-archive:FILE DIR` that every byte costs, with no tar code at all. Each layer
// tar is read in 1 MiB pieces through two buffers that take turns (the next read runs while a
// piece is used), each piece hashed (the diffID an unpacker must check) and written, and each
// layer goes to one file in DIR as it is: no headers parsed, no entries made, no per-file calls.
// The hash runs on the main thread: one on a worker thread, fed the same pieces through shared
// buffers, took as long here (2 cores; 317 MB: 0.40-0.49 s against 0.42-0.46 s a process), since
// a thread's start (50-80 ms) and the writes' CPU eat what it frees.
// Usage: node bench/cases/unpack-job-floor.mjs DIR LAYER.tar...
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { keepFreedMemory } from '../lib/malloc.mjs';

keepFreedMemory();

const PIECE = 1 << 20;
const [dir, ...layers] = process.argv.slice(2);
const buffers = [Buffer.allocUnsafeSlow(PIECE), Buffer.allocUnsafeSlow(PIECE)];
for (const [i, layer] of layers.entries()) {
  const input = await open(layer, 'r');
  const out = openSync(join(dir, `layer-${i}`), 'wx');
  const hash = createHash('sha256');
  let turn = 0;
  let at = 0;
  let reading = input.read(buffers[turn], 0, PIECE, at);
  for (;;) {
    const { bytesRead, buffer } = await reading;
    if (bytesRead === 0) break;
    at += bytesRead;
    turn ^= 1;
    reading = input.read(buffers[turn], 0, PIECE, at);
    const piece = buffer.subarray(0, bytesRead);
    hash.update(piece);
    for (let off = 0; off < piece.length; ) off += writeSync(out, piece, off, piece.length - off);
  }
  closeSync(out);
  await input.close();
  hash.digest('hex');
}
