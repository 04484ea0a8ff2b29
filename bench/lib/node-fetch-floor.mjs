#!/usr/bin/env node
// The floor of a pull written in Node: the least a Node program does to pull the same blobs,
// with no pd code. The undici modules pd's transport loads, every blob at once, sha256 checked
// while the bytes arrive, 1 MiB batched writes, one file per blob. No manifest, config, cache,
// layout or progress. What a Node CLI can at best reach on this machine, whatever it is built of.
// Usage: node node-fetch-floor.mjs DIR URL#DIGEST...   (or import { fetchBlobs } in-process)
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import request from 'undici/lib/api/api-request.js';
import Agent from 'undici/lib/dispatcher/agent.js';

/** Fetch `URL#DIGEST` specs concurrently into files in `dir`, checking each digest. */
export async function fetchBlobs(dir, specs) {
  const agent = new Agent();
  try {
    await Promise.all(specs.map((spec) => fetchBlob(agent, dir, spec)));
  } finally {
    await agent.close();
  }
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
  const [dir, ...specs] = process.argv.slice(2);
  await fetchBlobs(dir, specs);
}
