#!/usr/bin/env node
// A floor for layer creation (issue 15): the least CPU a Node program spends to gzip -6 the same
// tar, spread over every core. The tar is cut into 4 MiB stripes dealt to one worker thread per
// core in turn (stripes, not halves: the tree's halves compress at different speeds); each worker
// deflates its stripes at level 6 with Node's zlib (the library pd's workers use), and the output
// is counted, not written. No tar walk, no hashing, no dictionary carried between stripes: nothing
// but the compression pd cannot avoid, at the machine's parallelism.
// Usage: node bench/cases/deflate-floor.mjs FILE.tar [level]
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { keepFreedMemory } from '../lib/malloc.mjs';

keepFreedMemory();

const STRIPE = 4 << 20;
const WORKER = `
const { parentPort, workerData: { file, size, first, step, stripe, level } } = require('node:worker_threads');
const { openSync, readSync } = require('node:fs');
const { deflateRawSync } = require('node:zlib');
const fd = openSync(file, 'r');
const buf = Buffer.allocUnsafe(stripe);
let out = 0;
for (let at = first * stripe; at < size; at += step * stripe) {
  const n = readSync(fd, buf, 0, Math.min(stripe, size - at), at);
  out += deflateRawSync(buf.subarray(0, n), { level }).length;
}
parentPort.postMessage(out);
`;

const [file, level = '6'] = process.argv.slice(2);
if (!file) throw new Error('usage: deflate-floor.mjs FILE.tar [level]');
const { size } = await stat(file);
const cores = availableParallelism();
const outs = await Promise.all(
  Array.from({ length: cores }, (_, first) => {
    const workerData = { file, size, first, step: cores, stripe: STRIPE, level: Number(level) };
    const w = new Worker(WORKER, { eval: true, workerData });
    return new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  }),
);
process.stderr.write(`${size} bytes → ${outs.reduce((a, b) => a + b, 0)} on ${cores} threads\n`);
