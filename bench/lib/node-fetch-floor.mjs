#!/usr/bin/env node
// The floors of a pull written in Node: the least a Node program does to pull the same blobs, with
// no pd code, one rung of the ladder per `via` (each adds one layer of work to the one before):
//   socket  a raw net.Socket per blob: send the GET, receive every byte into one reused buffer
//           (no parsing, no hash, no file)
//   http    node:http per blob, the body hashed with sha256 (no file)
//   undici  the undici modules pd's transport loads, sha256 checked while the bytes arrive,
//           1 MiB batched writes, one file per blob
// Every blob at once. No manifest, config, cache, layout or progress.
// Usage: node node-fetch-floor.mjs [--via socket|http|undici] DIR URL#DIGEST...
//        (or import { fetchBlobs } and call it in-process)
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { get } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import request from 'undici/lib/api/api-request.js';
import Agent from 'undici/lib/dispatcher/agent.js';

export const VIAS = ['socket', 'http', 'undici'];

/** Fetch `URL#DIGEST` specs concurrently (into files in `dir` for `undici`), checking digests but for `socket`. */
export async function fetchBlobs(dir, specs, { via = 'undici' } = {}) {
  if (via === 'socket') return void (await Promise.all(specs.map(receiveRaw)));
  if (via === 'http') return void (await Promise.all(specs.map(hashHttp)));
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
  const args = process.argv.slice(2);
  const via = args[0] === '--via' ? args.splice(0, 2)[1] : 'undici';
  const [dir, ...specs] = args;
  await fetchBlobs(dir, specs, { via });
}
