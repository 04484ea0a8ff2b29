#!/usr/bin/env node
// The floors of a pull written in Node: the least a Node program does to pull the same blobs, with
// no pd code, one rung of the ladder per `via` (each adds one layer of work to the one before):
//   socket  a raw net.Socket per blob: send the GET, receive every byte into one reused buffer
//           (no parsing, no hash, no file)
//   files   a raw net.Socket per blob, the body received into reused 1 MiB buffers, each
//           written to the blob's file when full and hashed: on the main thread, or for a blob
//           of 128 MiB or more on a worker thread of its own (the buffers shared with it)
//   http    node:http per blob, the body hashed with sha256 (no file)
//   undici  undici's Agent and request() (what a client on undici loads), sha256 checked as
//           the bytes arrive, 1 MiB batched writes, one file per blob
//   tls     (https URLs) a TLS socket per blob (node:tls, certificate not checked), no HTTP
//           library: the decrypted chunks hashed (sha256) and written in 1 MiB writev batches
// Every blob at once. No manifest, config, cache, layout or progress.
// Usage: node node-fetch-floor.mjs [--via socket|files|http|undici] DIR URL#DIGEST...
//        (or import { fetchBlobs } and call it in-process)
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { get } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { connect as tlsConnect } from 'node:tls';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import request from 'undici/lib/api/api-request.js';
import Agent from 'undici/lib/dispatcher/agent.js';
import { keepFreedMemory } from './malloc.mjs';

export const VIAS = ['socket', 'files', 'http', 'undici', 'tls'];

/** Fetch `URL#DIGEST` specs concurrently (into files in `dir` for `undici`), checking digests but for `socket`. */
export async function fetchBlobs(dir, specs, { via = 'undici' } = {}) {
  if (via === 'socket') return void (await Promise.all(specs.map(receiveRaw)));
  if (via === 'http') return void (await Promise.all(specs.map(hashHttp)));
  if (via === 'files') return void (await Promise.all(specs.map((spec) => socketToFile(dir, spec))));
  if (via === 'tls') return void (await Promise.all(specs.map((spec) => tlsToFile(dir, spec))));
  if (via !== 'undici') throw new Error(`via: one of ${VIAS.join(', ')}`);
  const agent = new Agent();
  try {
    await Promise.all(specs.map((spec) => fetchBlob(agent, dir, spec)));
  } finally {
    await agent.close();
  }
}

/**
 * The bytes of the response arrive, and nothing else happens to them: read into one reused 1 MiB
 * buffer (`onread`, no allocation per chunk); `Connection: close` ends it.
 */
function receiveRaw(spec) {
  const u = new URL(spec.split('#')[0]);
  return new Promise((resolve, reject) => {
    let received = 0;
    let head = '';
    const socket = connect({
      port: Number(u.port || 80),
      host: u.hostname,
      onread: {
        buffer: Buffer.allocUnsafe(1 << 20),
        callback: (n, buf) => {
          if (received === 0) head = buf.subarray(0, 12).toString('latin1');
          received += n;
        },
      },
    });
    socket.on('connect', () =>
      socket.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`),
    );
    socket.on('error', reject);
    socket.on('end', () =>
      head.startsWith('HTTP/1.1 200') ? resolve(received) : reject(new Error(`${u}: ${head}`)),
    );
  });
}

const BUFFER = 1 << 20;
const THREAD_FROM = 128 << 20;
const HASH_WORKER = `
const { parentPort } = require('node:worker_threads');
const hash = require('node:crypto').createHash('sha256');
parentPort.on('message', (m) => {
  if (m.buffer) hash.update(new Uint8Array(m.buffer, 0, m.length));
  parentPort.postMessage(m.buffer ? 0 : hash.digest('hex'));
});`;

/** sha256 on a worker over shared buffers: `update` settles when it is done with the buffer. */
function hashThread() {
  const worker = new Worker(HASH_WORKER, { eval: true });
  const waiting = [];
  worker.on('message', (m) => waiting.shift()(m));
  const ask = (m) => new Promise((resolve) => waiting.push(resolve) && worker.postMessage(m));
  return {
    update: (buffer, length) => ask({ buffer: buffer.buffer, length }),
    digest: () => ask({}).finally(() => worker.terminate()),
  };
}

/**
 * A raw socket per blob, the body into four 1 MiB buffers taken in turn (the kernel reads straight
 * into the free tail of the current one), each written to the file when full; while all four are
 * being written, reading stops. sha256 over every byte, for a large blob on a thread of its own
 * (the buffers shared with it); the digest checked.
 */
async function socketToFile(dir, spec) {
  const [url, digest] = spec.split('#');
  const u = new URL(url);
  const file = await open(join(dir, digest.replace(':', '-')), 'wx');
  let thread;
  let hash;
  let free = [];
  // Where reads go while all four buffers are being written (reading stops meanwhile).
  const overflow = Buffer.allocUnsafe(BUFFER);
  let current = Buffer.allocUnsafe(64 * 1024); // the head lands here
  let fill = 0;
  let length = -1;
  let received = 0;
  let chain = Promise.resolve();
  await new Promise((resolve, reject) => {
    const flush = () => {
      const full = current;
      const n = fill;
      current = free.pop() ?? overflow;
      fill = 0;
      const hashed = thread?.update(full, n);
      chain = chain.then(async () => {
        await file.write(full, 0, n);
        await hashed;
        if (current !== overflow) return void free.push(full);
        overflow.copy(full, 0, 0, fill);
        current = full;
        // Once every byte is in, an empty buffer is not flushed: two buffers would hand an empty
        // write back and forth, and the hash thread got updates after its digest.
        if (received === length) {
          if (fill > 0) flush();
        } else if (BUFFER - fill < 64 * 1024) flush();
        else socket.resume();
      });
      if (received === length) chain.then(resolve, reject);
      chain.catch(reject);
    };
    const body = (n) => {
      if (hash) hash.update(current.subarray(fill, fill + n));
      fill += n;
      received += n;
      if (current !== overflow && (received === length || BUFFER - fill < 64 * 1024)) flush();
    };
    const socket = connect({
      port: Number(u.port || 80),
      host: u.hostname,
      onread: {
        buffer: () => current.subarray(fill),
        // false stops reading while every buffer is being written (and hashed)
        callback: (n, buf) => {
          if (length >= 0) {
            // A read lands where `buffer` pointed after the read before: elsewhere when that
            // buffer has since been swapped (head parsed, a write done, reading resumed).
            if (buf.buffer !== current.buffer || buf.byteOffset !== current.byteOffset + fill) {
              Buffer.from(buf.buffer, buf.byteOffset, n).copy(current, fill);
            }
            body(n);
            return current !== overflow;
          }
          fill += n;
          const text = current.subarray(0, fill).toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          if (end < 0) return;
          if (!text.startsWith('HTTP/1.1 200')) return reject(new Error(`${url}: ${text.slice(0, 12)}`));
          length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)[1]);
          const rest = current.subarray(end + 4, fill);
          if (length >= THREAD_FROM) thread = hashThread();
          else hash = createHash('sha256');
          free = Array.from({ length: 4 }, () =>
            thread ? Buffer.from(new SharedArrayBuffer(BUFFER)) : Buffer.allocUnsafe(BUFFER),
          );
          current = free.pop();
          rest.copy(current);
          fill = 0;
          body(rest.length);
        },
      },
    });
    socket.on('connect', () =>
      socket.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`),
    );
    socket.on('error', reject);
  });
  await file.close();
  const actual = `sha256:${thread ? await thread.digest() : hash.digest('hex')}`;
  if (actual !== digest) throw new Error(`${url}: digest mismatch`);
}

/**
 * A TLS socket per blob, the least a Node program does over HTTPS: no `onread` there, so the
 * decrypted chunks (16 KiB each) are hashed as they come and written in batches of about 1 MiB
 * (writev, no copy), reading paused while a batch is written; the digest checked.
 */
async function tlsToFile(dir, spec) {
  const [url, digest] = spec.split('#');
  const u = new URL(url);
  const file = await open(join(dir, digest.replace(':', '-')), 'wx');
  const hash = createHash('sha256');
  let head = Buffer.alloc(0);
  let length = -1;
  let received = 0;
  let batch = [];
  let pending = 0;
  let writes = Promise.resolve();
  await new Promise((resolve, reject) => {
    const flush = () => {
      const buffers = batch;
      batch = [];
      pending = 0;
      writes = writes.then(() => file.writev(buffers));
      writes.catch(reject);
      return writes;
    };
    const body = (chunk) => {
      hash.update(chunk);
      batch.push(chunk);
      pending += chunk.length;
      received += chunk.length;
      if (received === length) return flush().then(resolve);
      if (pending < BUFFER) return;
      socket.pause();
      flush().then(() => socket.resume());
    };
    const socket = tlsConnect({ host: u.hostname, port: Number(u.port || 443), rejectUnauthorized: false });
    socket.on('secureConnect', () =>
      socket.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (chunk) => {
      if (length >= 0) return body(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const text = head.subarray(0, end).toString('latin1');
      if (!text.startsWith('HTTP/1.1 200')) return reject(new Error(`${url}: ${text.slice(0, 12)}`));
      length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)[1]);
      body(head.subarray(end + 4));
    });
    socket.on('error', reject);
  });
  await file.close();
  if (`sha256:${hash.digest('hex')}` !== digest) throw new Error(`${url}: digest mismatch`);
}

/** node:http, sha256 of the body checked; nothing written. */
function hashHttp(spec) {
  const [url, digest] = spec.split('#');
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode}`));
      const hash = createHash('sha256');
      res.on('data', (chunk) => hash.update(chunk));
      res.on('end', () =>
        `sha256:${hash.digest('hex')}` === digest ? resolve() : reject(new Error(`${url}: digest mismatch`)),
      );
      res.on('error', reject);
    }).on('error', reject);
  });
}

async function fetchBlob(agent, dir, spec) {
  const [url, digest] = spec.split('#');
  const u = new URL(url);
  const res = await request.call(agent, { origin: u.origin, path: u.pathname, method: 'GET' });
  if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`);
  const hash = createHash('sha256');
  const file = await open(join(dir, digest.replace(':', '-')), 'wx');
  let batch = [];
  let pending = 0;
  let writes = Promise.resolve();
  const flush = () => {
    const buffers = batch;
    batch = [];
    pending = 0;
    writes = writes.then(() => file.writev(buffers));
    return writes;
  };
  res.body.on('data', (chunk) => {
    hash.update(chunk);
    batch.push(chunk);
    pending += chunk.length;
    if (pending < 1 << 20) return;
    res.body.pause();
    flush().then(() => res.body.resume());
  });
  await finished(res.body);
  await flush();
  await file.close();
  if (`sha256:${hash.digest('hex')}` !== digest) throw new Error(`${url}: digest mismatch`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  keepFreedMemory();
  const args = process.argv.slice(2);
  const via = args[0] === '--via' ? args.splice(0, 2)[1] : 'undici';
  const [dir, ...specs] = args;
  await fetchBlobs(dir, specs, { via });
}
