#!/usr/bin/env node
// A floor for pushing blobs that lie in local files (issue 15): the least a Node program does for
// it, with no HTTP client library. Every blob at once: POST a session, then PUT the file over a
// raw socket from two 1 MiB buffers that take turns (each refilled once its write is done), with
// `--hash` hashing every byte as pd must. Plain HTTP, anonymous registry, no retries: a
// measurement, not a client.
// Usage: node bench/cases/push-socket-floor.mjs [--hash] HOST/REPO FILE:DIGEST...
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { keepFreedMemory } from '../lib/malloc.mjs';

keepFreedMemory();

const BUFFER = 1 << 20;
const args = process.argv.slice(2);
const hash = args[0] === '--hash';
const [target, ...blobs] = hash ? args.slice(1) : args;
const slash = target.indexOf('/');
const host = target.slice(0, slash);
const repo = target.slice(slash + 1);
const [hostname, port] = host.split(':');

function startSession() {
  return new Promise((resolve, reject) => {
    const req = request(
      `http://${host}/v2/${repo}/blobs/uploads/`,
      { method: 'POST', headers: { 'content-length': 0 } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(new URL(res.headers.location, `http://${host}`)));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function put(path, digest) {
  const url = await startSession();
  url.searchParams.set('digest', digest);
  const file = await open(path);
  const size = (await file.stat()).size;
  const hasher = hash ? createHash('sha256') : undefined;
  const socket = connect({ host: hostname, port: Number(port) });
  socket.setNoDelay(true);
  await new Promise((resolve) => socket.once('connect', resolve));
  const answer = new Promise((resolve, reject) => {
    let text = '';
    socket.on('data', (c) => {
      text += c.toString('latin1');
      if (text.includes('\r\n\r\n')) resolve(text.slice(0, text.indexOf('\r\n')));
    });
    socket.on('error', reject);
  });
  socket.write(
    `PUT ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/octet-stream\r\n` +
      `content-length: ${size}\r\nconnection: close\r\n\r\n`,
  );
  const buffers = [Buffer.allocUnsafe(BUFFER), Buffer.allocUnsafe(BUFFER)];
  const writes = [Promise.resolve(), Promise.resolve()];
  for (let at = 0, turn = 0; at < size; turn ^= 1) {
    await writes[turn];
    const { bytesRead } = await file.read(buffers[turn], 0, BUFFER, at);
    const chunk = buffers[turn].subarray(0, bytesRead);
    hasher?.update(chunk);
    at += bytesRead;
    writes[turn] = new Promise((resolve, reject) => socket.write(chunk, (e) => (e ? reject(e) : resolve())));
  }
  await Promise.all(writes);
  const status = await answer;
  await file.close();
  socket.destroy();
  if (!/ 201 /.test(status)) throw new Error(`PUT ${digest}: ${status}`);
  if (hasher && `sha256:${hasher.digest('hex')}` !== digest) throw new Error(`${path} is not ${digest}`);
}

await Promise.all(
  blobs.map((b) => {
    const colon = b.lastIndexOf(':sha256:');
    return put(b.slice(0, colon), b.slice(colon + 1));
  }),
);
