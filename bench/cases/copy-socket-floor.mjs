#!/usr/bin/env node
// A floor for registry → registry copy across two registries (issue 15): the least a Node
// program does for it, with no HTTP client library. Every blob at once: POST a session at the
// destination, GET the blob on a raw socket (net's `onread` into one reused buffer), hash it,
// copy it into 1 MiB buffers that take turns and write them to a raw-socket PUT; then the
// manifest. Plain HTTP, anonymous registries, no retries: a measurement, not a client. With
// --tls both registries speak HTTPS (certificates not checked): the GET's decrypted chunks are
// hashed and written to the PUT's TLS socket as they came, about 1 MiB of them corked at a time.
// Within one registry, or with MOUNT_FROM (a repository of the destination registry that has the
// blobs), it mounts every blob at once instead (POST ?mount=&from=, node:http's kept-alive
// connections): the floor of a copy that moves no bytes.
// Usage: node bench/cases/copy-socket-floor.mjs [--tls] SRC_HOST/REPO:TAG DST_HOST/REPO:TAG [MOUNT_FROM]
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { request as requestTls } from 'node:https';
import { connect } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { keepFreedMemory } from '../lib/malloc.mjs';

keepFreedMemory();

const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
].join(', ');
const WRITE_BUFFER = 1 << 20;

function parseRef(ref) {
  const slash = ref.indexOf('/');
  const colon = ref.lastIndexOf(':');
  return { host: ref.slice(0, slash), repo: ref.slice(slash + 1, colon), tag: ref.slice(colon + 1) };
}

const args = process.argv.slice(2);
const tls = args[0] === '--tls';
if (tls) args.shift();
const scheme = tls ? 'https' : 'http';

/** One small HTTP exchange: `{ status, headers, body }`. */
function http(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const send = tls ? requestTls : request;
    const req = send(url, { method, headers, rejectUnauthorized: false }, (res) => {
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Settle once the PUT's answer head arrived: 201, or an error. */
function awaitAnswer(put, digest, resolve, reject) {
  let answer = '';
  put.on('data', (d) => {
    answer += d;
    if (!answer.includes('\r\n\r\n')) return;
    put.destroy();
    const status = Number(answer.slice(9, 12));
    if (status === 201) resolve();
    else reject(new Error(`PUT ${digest}: HTTP ${status}`));
  });
}

/** The PUT's head for a body of `length` bytes to the session `location`. */
function putHead(dst, location, digest, length) {
  const query = `${location.search ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
  return (
    `PUT ${location.pathname}${location.search}${query} HTTP/1.1\r\nhost: ${dst.host}\r\n` +
    `content-type: application/octet-stream\r\ncontent-length: ${length}\r\nconnection: close\r\n\r\n`
  );
}

/** Over HTTPS: the GET's decrypted chunks hashed and corked onto the PUT, ~1 MiB at a time, two batches on the way at most. */
function pipeBlobTls(src, digest, dst, location) {
  return new Promise((resolve, reject) => {
    const [dstHost, dstPort] = dst.host.split(':');
    const [srcHost, srcPort] = src.host.split(':');
    const put = connectTls({ host: dstHost, port: Number(dstPort), rejectUnauthorized: false });
    awaitAnswer(put, digest, resolve, reject);
    const hash = createHash('sha256');
    let head;
    let length = -1;
    let got = 0;
    let batch = [];
    let pending = 0;
    let inFlight = 0;
    const flush = () => {
      const chunks = batch;
      batch = [];
      pending = 0;
      inFlight++;
      const written = () => {
        inFlight--;
        if (get.isPaused() && inFlight < 2) get.resume();
      };
      put.cork();
      for (let i = 0; i < chunks.length; i++)
        put.write(chunks[i], i === chunks.length - 1 ? written : undefined);
      put.uncork();
      if (inFlight >= 2) get.pause();
    };
    const get = connectTls({ host: srcHost, port: Number(srcPort), rejectUnauthorized: false });
    get.on('secureConnect', () =>
      get.write(
        `GET /v2/${src.repo}/blobs/${digest} HTTP/1.1\r\nhost: ${src.host}\r\nconnection: close\r\n\r\n`,
      ),
    );
    get.on('data', (chunk) => {
      try {
        if (length < 0) {
          head = head ? Buffer.concat([head, chunk]) : chunk;
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          const text = head.subarray(0, end).toString('latin1');
          if (!text.startsWith('HTTP/1.1 200')) throw new Error(`GET ${digest}: ${text.split('\r\n')[0]}`);
          length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)[1]);
          put.write(putHead(dst, location, digest, length));
          chunk = head.subarray(end + 4);
        }
        hash.update(chunk);
        got += chunk.length;
        batch.push(chunk);
        pending += chunk.length;
        if (got === length) {
          const actual = `sha256:${hash.digest('hex')}`;
          if (actual !== digest) throw new Error(`${digest}: got ${actual}`);
          flush();
          get.destroy();
        } else if (pending >= WRITE_BUFFER) flush();
      } catch (e) {
        get.destroy();
        put.destroy();
        reject(e);
      }
    });
    get.on('error', reject);
    put.on('error', reject);
  });
}

/** GET the blob from `src` and PUT it to the session `location` of `dst`, verified on the way. */
function pipeBlob(src, digest, dst, location) {
  return new Promise((resolve, reject) => {
    const [dstHost, dstPort] = dst.host.split(':');
    const put = connect({ host: dstHost, port: Number(dstPort) });
    put.setNoDelay(true);
    awaitAnswer(put, digest, resolve, reject);
    const hash = createHash('sha256');
    const free = [Buffer.allocUnsafe(WRITE_BUFFER), Buffer.allocUnsafe(WRITE_BUFFER)];
    let batch = Buffer.allocUnsafe(WRITE_BUFFER);
    let fill = 0;
    let head;
    let length = -1;
    let got = 0;
    let paused = false;
    const flush = () => {
      const full = batch;
      put.write(full.subarray(0, fill), () => {
        free.push(full);
        if (!batch) batch = free.pop();
        if (paused) {
          paused = false;
          get.resume();
        }
      });
      fill = 0;
      batch = free.pop();
    };
    const body = (chunk) => {
      hash.update(chunk);
      got += chunk.length;
      let off = 0;
      while (off < chunk.length) {
        const k = Math.min(chunk.length - off, WRITE_BUFFER - fill);
        chunk.copy(batch, fill, off, off + k);
        fill += k;
        off += k;
        if (fill === WRITE_BUFFER) flush();
        if (!batch && off < chunk.length) throw new Error('write buffers exhausted');
      }
    };
    const [srcHost, srcPort] = src.host.split(':');
    const get = connect({
      host: srcHost,
      port: Number(srcPort),
      onread: {
        buffer: Buffer.allocUnsafe(256 * 1024),
        callback: (n, buf) => {
          try {
            let chunk = buf.subarray(0, n);
            if (length < 0) {
              head = head ? Buffer.concat([head, chunk]) : Buffer.from(chunk);
              const end = head.indexOf('\r\n\r\n');
              if (end < 0) return true;
              const text = head.subarray(0, end).toString('latin1');
              if (!text.startsWith('HTTP/1.1 200'))
                throw new Error(`GET ${digest}: ${text.split('\r\n')[0]}`);
              length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)[1]);
              put.write(putHead(dst, location, digest, length));
              chunk = head.subarray(end + 4);
            }
            body(chunk);
            if (got === length) {
              const actual = `sha256:${hash.digest('hex')}`;
              if (actual !== digest) throw new Error(`${digest}: got ${actual}`);
              if (fill > 0) flush();
              get.destroy();
              return false;
            }
            // All write buffers in flight: stop reading until one comes back.
            if (!batch || (free.length === 0 && fill > WRITE_BUFFER - buf.length)) {
              paused = true;
              return false;
            }
            return true;
          } catch (e) {
            get.destroy();
            put.destroy();
            reject(e);
            return false;
          }
        },
      },
    });
    get.on('connect', () =>
      get.write(
        `GET /v2/${src.repo}/blobs/${digest} HTTP/1.1\r\nhost: ${src.host}\r\nconnection: close\r\n\r\n`,
      ),
    );
    get.on('error', reject);
    put.on('error', reject);
  });
}

const [from, to, mountFrom] = args;
if (!from || !to)
  throw new Error('usage: copy-socket-floor.mjs [--tls] SRC_HOST/REPO:TAG DST_HOST/REPO:TAG [MOUNT_FROM]');
const src = parseRef(from);
const dst = parseRef(to);
const mountRepo = mountFrom ?? (src.host === dst.host ? src.repo : undefined);
const manifest = await http('GET', `${scheme}://${src.host}/v2/${src.repo}/manifests/${src.tag}`, {
  headers: { accept: MANIFEST_TYPES },
});
if (manifest.status !== 200) throw new Error(`manifest: HTTP ${manifest.status}`);
const parsed = JSON.parse(manifest.body.toString());
const digests = [...new Set([parsed.config.digest, ...parsed.layers.map((l) => l.digest)])];
await Promise.all(
  digests.map(async (digest) => {
    if (mountRepo !== undefined) {
      const query = `mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountRepo)}`;
      const mounted = await http('POST', `${scheme}://${dst.host}/v2/${dst.repo}/blobs/uploads/?${query}`);
      if (mounted.status !== 201) throw new Error(`mount ${digest}: HTTP ${mounted.status}`);
      return;
    }
    const session = await http('POST', `${scheme}://${dst.host}/v2/${dst.repo}/blobs/uploads/`);
    if (session.status !== 202) throw new Error(`POST: HTTP ${session.status}`);
    const location = new URL(session.headers.location, `${scheme}://${dst.host}`);
    await (tls ? pipeBlobTls : pipeBlob)(src, digest, dst, location);
  }),
);
const done = await http('PUT', `${scheme}://${dst.host}/v2/${dst.repo}/manifests/${dst.tag}`, {
  headers: { 'content-type': manifest.headers['content-type'] },
  body: manifest.body,
});
if (done.status !== 201) throw new Error(`manifest PUT: HTTP ${done.status}`);
