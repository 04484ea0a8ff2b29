#!/usr/bin/env node
// A floor for layer creation as a whole (issue 15), one rung above deflate-floor.mjs: what a
// Node program spends on everything `pd layer create` must do besides walking the tree, with GNU
// tar walking it (in C, in its own process): read the tar stream from stdin, hash it (the
// diffID), CRC it (the gzip trailer), deflate it at level 6 in 4 MiB stripes dealt to one worker
// thread per core (no dictionary between stripes: the cheapest split), hash the compressed bytes
// in order (the blob digest) and write them to stdout. No tar code, no dictionary, no checks.
// With a FILE (the tree's tar made beforehand) it reads that in 1 MiB pieces instead: no walk at
// all, the lower rung.
// Usage: tar -c -C DIR . | node bench/cases/layer-job-floor.mjs > OUT
//        node bench/cases/layer-job-floor.mjs FILE.tar > OUT
import { createHash } from 'node:crypto';
import { createReadStream, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import { keepFreedMemory } from '../lib/malloc.mjs';

keepFreedMemory();

const STRIPE = 4 << 20;
const WORKER = `
const { parentPort, workerData: { level } } = require('node:worker_threads');
const { constants, deflateRawSync } = require('node:zlib');
parentPort.on('message', ({ id, data }) => {
  // A sync flush ends each piece on a byte boundary, unfinished, so the pieces concatenate.
  const out = deflateRawSync(data, { level, finishFlush: constants.Z_SYNC_FLUSH });
  parentPort.postMessage({ id, out }, [out.buffer]);
});
`;

const level = 6;
const file = process.argv[2];
const input = file ? createReadStream(file, { highWaterMark: 1 << 20 }) : process.stdin;
const cores = availableParallelism();
const workers = Array.from({ length: cores }, () => {
  return new Worker(WORKER, { eval: true, workerData: { level } });
});
const waiting = new Map();
for (const w of workers) {
  w.on('message', ({ id, out }) => {
    waiting.get(id)(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
    waiting.delete(id);
  });
  w.on('error', (e) => {
    throw e;
  });
}
let next = 0;
const deflate = (data) =>
  new Promise((resolve) => {
    const id = next++;
    waiting.set(id, resolve);
    workers[id % cores].postMessage({ id, data }, [data.buffer]);
  });

const diff = createHash('sha256');
const digest = createHash('sha256');
let crc = 0;
let size = 0;
let written = 0;
const emit = (b) => {
  digest.update(b);
  for (let at = 0; at < b.length; ) at += writeSync(1, b, at);
  written += b.length;
};
const queue = [];
let stripe = Buffer.allocUnsafeSlow(STRIPE);
let fill = 0;
emit(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]));
for await (const chunk of input) {
  diff.update(chunk);
  crc = crc32(chunk, crc);
  size += chunk.length;
  for (let at = 0; at < chunk.length; ) {
    const n = Math.min(chunk.length - at, STRIPE - fill);
    chunk.copy(stripe, fill, at, at + n);
    fill += n;
    at += n;
    if (fill === STRIPE) {
      queue.push(deflate(stripe));
      stripe = Buffer.allocUnsafeSlow(STRIPE);
      fill = 0;
      while (queue.length > cores * 2) emit(await queue.shift());
    }
  }
}
queue.push(deflate(stripe.subarray(0, fill)));
for (const p of queue) emit(await p);
// Raw deflate pieces end unfinished; an empty final block closes the stream.
const trailer = Buffer.alloc(10);
trailer.set([0x03, 0x00], 0);
trailer.writeUInt32LE(crc >>> 0, 2);
trailer.writeUInt32LE(size % 2 ** 32, 6);
emit(trailer);
process.stderr.write(`${size} bytes, diffID sha256:${diff.digest('hex')} → ${written} bytes\n`);
process.exit(0); // the workers would keep the process alive
