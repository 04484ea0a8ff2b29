import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { type Digest, DigestMismatchError } from '@pd/oci-types';
import { missingTools, selfSignedCertificate, startForwardProxy } from '@pd/test-fixtures';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { FileBody } from '../src/transport/file-body.js';
import { HttpTransport, readText } from '../src/transport/http.js';
import { SocketError } from '../src/transport/http1.js';
import { socketRequest } from '../src/transport/socket-request.js';
import { randomData, tempDir } from './helpers.js';

// The file-body request on its own socket, against servers that answer as a test needs: early
// refusals, chunked error bodies, closes and silence. The real registry is in uploads.test.ts.

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
const timeouts = { connect: 2000, headers: 2000, body: 2000 };
const files = tempDir('pd-socket-request-');
afterAll(() => files.cleanup());

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A server that hands each connection's bytes to `onData` as they gather; returns its URL. */
async function serve(onData: (socket: Socket, received: Buffer) => void): Promise<URL> {
  server = createServer((socket) => {
    let received = Buffer.alloc(0);
    socket.on('data', (c) => {
      received = Buffer.concat([received, c]);
      onData(socket, received);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return new URL(`http://127.0.0.1:${port}/v2/r/blobs/uploads/x?digest=d`);
}

function fileBody(data: Buffer, digest = sha256(data), start = 0): FileBody {
  const path = join(files.dir, `f-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, Buffer.concat([randomData(start), data]));
  return new FileBody(path, { start, size: data.length, digest, what: 'blob under test' });
}

const headEnd = (b: Buffer) => b.indexOf('\r\n\r\n');

describe('socketRequest', () => {
  test('sends the head and the file bytes from start, and hands back status, headers and body', async () => {
    const data = randomData(3 * (1 << 20) + 17);
    let got: Buffer | undefined;
    const url = await serve((socket, received) => {
      const end = headEnd(received);
      if (end < 0 || received.length - end - 4 < data.length) return;
      got = received;
      socket.end('HTTP/1.1 201 Created\r\nDocker-Content-Digest: sha256:abc\r\nContent-Length: 2\r\n\r\nok');
    });
    const res = await socketRequest({
      url,
      method: 'PUT',
      headers: { 'content-length': String(data.length), authorization: 'Bearer t' },
      body: fileBody(data, sha256(data), 4096),
      timeouts,
    });
    expect(res.status).toBe(201);
    expect(res.headers['docker-content-digest']).toBe('sha256:abc');
    expect(await readText(res.body)).toBe('ok');
    const head = got!.subarray(0, headEnd(got!)).toString('latin1');
    expect(head).toMatch(/^PUT \/v2\/r\/blobs\/uploads\/x\?digest=d HTTP\/1\.1\r\n/);
    expect(head).toMatch(/\r\nauthorization: Bearer t\r\n/);
    expect(head).toMatch(/\r\nconnection: close(\r\n|$)/);
    expect(got!.subarray(headEnd(got!) + 4).equals(data)).toBe(true);
  });

  test('an answer before the body ends stops the body, and its chunked error document is read', async () => {
    const data = randomData(8 * (1 << 20));
    let bodyBytes = 0;
    const url = await serve((socket, received) => {
      const end = headEnd(received);
      if (end < 0 || socket.writableEnded) return;
      bodyBytes = received.length - end - 4;
      const doc = '{"errors":[{"code":"DENIED"}]}';
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n${doc.length.toString(16)}\r\n${doc}\r\n0\r\n\r\n`,
      );
    });
    const res = await socketRequest({
      url,
      method: 'PUT',
      headers: { 'content-length': String(data.length) },
      body: fileBody(data),
      timeouts,
    });
    expect(res.status).toBe(403);
    expect(await readText(res.body)).toBe('{"errors":[{"code":"DENIED"}]}');
    expect(bodyBytes).toBeLessThan(data.length);
  });

  test('a body that does not hash to its digest never sends its last chunk', async () => {
    const data = randomData(3 * (1 << 20));
    let most = 0;
    const url = await serve((_socket, received) => {
      const end = headEnd(received);
      if (end >= 0) most = Math.max(most, received.length - end - 4);
    });
    const err = await socketRequest({
      url,
      method: 'PUT',
      headers: { 'content-length': String(data.length) },
      body: fileBody(data, sha256(Buffer.from('other'))),
      timeouts,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect(most).toBeLessThan(data.length);
    expect(most).toBeGreaterThan(0);
  });

  test('a close before the response head is a retryable SocketError; silence is a timeout', async () => {
    const data = randomData(1000);
    let url = await serve((socket, received) => {
      if (headEnd(received) >= 0) socket.end();
    });
    const closed = await socketRequest({
      url,
      method: 'PUT',
      headers: { 'content-length': String(data.length) },
      body: fileBody(data),
      timeouts,
    }).catch((e: unknown) => e);
    expect(closed).toBeInstanceOf(SocketError);
    expect((closed as SocketError).code).toBe('ECONNRESET');
    await new Promise<void>((r) => server!.close(() => r()));

    url = await serve(() => {});
    const silent = await socketRequest({
      url,
      method: 'PUT',
      headers: { 'content-length': String(data.length) },
      body: fileBody(data),
      timeouts: { ...timeouts, headers: 100 },
    }).catch((e: unknown) => e);
    expect(silent).toBeInstanceOf(SocketError);
    expect((silent as SocketError).code).toBe('HEADERS_TIMEOUT');
    expect((silent as Error).message).toBe('headers timeout');
  });

  test('an abort ends the request with the signal’s reason', async () => {
    const data = randomData(1000);
    const url = await serve(() => {});
    const controller = new AbortController();
    const pending = socketRequest({
      url,
      method: 'PUT',
      headers: { 'content-length': String(data.length) },
      body: fileBody(data),
      timeouts,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error('stop')), 50);
    await expect(pending).rejects.toThrow('stop');
  });
});

describe('HttpTransport with a FileBody', () => {
  test('plain HTTP goes over a socket; through a proxy the same bytes go as a stream', async () => {
    const data = randomData((1 << 20) + 5);
    const bodies: Buffer[] = [];
    const http = createHttpServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(parts));
        res.writeHead(201, { 'content-length': '0' }).end();
      });
    });
    // On every address, so that it answers as [::ffff:7f00:1] too: a name that is not loopback.
    await new Promise<void>((r) => http.listen(0, '::', r));
    const fwd = await startForwardProxy();
    try {
      const { port } = http.address() as { port: number };
      const logs: string[] = [];
      const logger = { debug: (m: string) => logs.push(m) };
      // The registry's name is not loopback, so the proxy applies; it is the same server.
      const url = new URL(`http://[::ffff:7f00:1]:${port}/v2/r/blobs/uploads/x`);
      const request = { url, method: 'PUT' as const, headers: { 'content-length': String(data.length) } };

      const direct = new HttpTransport({ userAgent: 'pd-test', logger });
      const local = new URL(`http://127.0.0.1:${port}/v2/r/blobs/uploads/x`);
      expect((await direct.request({ ...request, url: local, body: fileBody(data) })).status).toBe(201);
      expect(logs.at(-1)).toMatch(/-> 201 \(\d+ ms, socket\)$/);

      const proxied = new HttpTransport({
        userAgent: 'pd-test',
        logger,
        proxy: { httpProxy: fwd.url },
      });
      expect((await proxied.request({ ...request, body: fileBody(data) })).status).toBe(201);
      expect(logs.at(-1)).toMatch(/-> 201 \(\d+ ms\)$/);
      await Promise.all([direct.close(), proxied.close()]);

      expect(fwd.seen).toEqual([`CONNECT [::ffff:7f00:1]:${port}`]);
      expect(bodies).toHaveLength(2);
      expect(bodies.every((b) => b.equals(data))).toBe(true);
    } finally {
      await fwd.stop();
      await new Promise<void>((r) => http.close(() => r()));
    }
  });
});

describe.skipIf(missingTools('openssl'))('socketRequest over TLS', () => {
  test('HTTPS goes over a TLS socket of its own: the same bytes; the certificate is checked unless insecure', async () => {
    const certs = tempDir('pd-socket-request-tls-');
    // A certificate for 127.0.0.1, made by openssl and trusted by no one.
    const tls = selfSignedCertificate(certs.dir, '127.0.0.1', ['IP:127.0.0.1']);
    const bodies: Buffer[] = [];
    const https = createHttpsServer(
      { key: readFileSync(tls.key), cert: readFileSync(tls.certificate) },
      (req, res) => {
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(c));
        req.on('end', () => {
          bodies.push(Buffer.concat(parts));
          res.writeHead(201, { 'content-length': '2' }).end('ok');
        });
      },
    );
    await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
    try {
      const { port } = https.address() as { port: number };
      const url = new URL(`https://127.0.0.1:${port}/v2/r/blobs/uploads/x`);
      const data = randomData(3 * (1 << 20) + 17);
      const request = { url, method: 'PUT', headers: { 'content-length': String(data.length) }, timeouts };
      const refused = await socketRequest({ ...request, body: fileBody(data) }).catch((e: unknown) => e);
      expect((refused as NodeJS.ErrnoException).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
      expect(bodies).toEqual([]);

      const res = await socketRequest({
        ...request,
        insecureTls: true,
        body: fileBody(data, sha256(data), 100),
      });
      expect(res.status).toBe(201);
      expect(await readText(res.body)).toBe('ok');

      // Through the transport, a poured body of 8 MiB or more to an HTTPS registry takes the same
      // way; a smaller one the agent's kept-alive connections (no handshake of its own).
      const logs: string[] = [];
      const transport = new HttpTransport({ userAgent: 'pd-test', logger: { debug: (m) => logs.push(m) } });
      const big = randomData(9 << 20);
      for (const [body, how] of [
        [big, /-> 201 \(\d+ ms, socket\)$/],
        [data, /-> 201 \(\d+ ms\)$/],
      ] as const) {
        const viaTransport = await transport.request({
          url,
          method: 'PUT',
          headers: { 'content-length': String(body.length) },
          body: fileBody(body),
          insecureTls: true,
        });
        expect(viaTransport.status).toBe(201);
        await readText(viaTransport.body);
        expect(logs.at(-1)).toMatch(how);
      }
      await transport.close();
      expect(bodies.map((b) => b.length)).toEqual([data.length, big.length, data.length]);
      expect([bodies[0]!.equals(data), bodies[1]!.equals(big), bodies[2]!.equals(data)]).toEqual([
        true,
        true,
        true,
      ]);
    } finally {
      https.closeAllConnections();
      await new Promise<void>((r) => https.close(() => r()));
      certs.cleanup();
    }
  });
});

describe('HttpTransport over node:http (plain HTTP, no file body)', () => {
  test('a dozen requests under one signal: one abort listener, and an abort reaches a body being read', async () => {
    const http = createHttpServer((req, res) => {
      if (req.url === '/slow') {
        res.writeHead(200, { 'content-length': '10' });
        res.write('12345');
        return; // the rest never comes
      }
      res.writeHead(200, { 'content-length': '2' }).end('ok');
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    const transport = new HttpTransport({ userAgent: 'pd-test' });
    try {
      const { port } = http.address() as { port: number };
      const controller = new AbortController();
      const url = (p: string) => new URL(`http://127.0.0.1:${port}${p}`);
      const all = await Promise.all(
        Array.from({ length: 12 }, () =>
          transport.request({ url: url('/'), method: 'GET', signal: controller.signal }),
        ),
      );
      expect(await Promise.all(all.map((r) => readText(r.body)))).toEqual(Array(12).fill('ok'));

      const slow = await transport.request({ url: url('/slow'), method: 'GET', signal: controller.signal });
      const reading = readText(slow.body);
      controller.abort(new Error('stop'));
      await expect(reading).rejects.toThrow('stop');
      await new Promise((r) => setImmediate(r));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await transport.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    }
  });

  test('a silent answer on a kept-alive connection is a headers timeout, not a connect one', async () => {
    let served = 0;
    const http = createHttpServer((_req, res) => {
      served++;
      if (served === 1) res.writeHead(200, { 'content-length': '2' }).end('ok');
      // the second request, on the same connection, gets no answer
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const transport = new HttpTransport({ userAgent: 'pd-test', timeout: { headers: 200 } });
    try {
      const { port } = http.address() as { port: number };
      const url = new URL(`http://127.0.0.1:${port}/`);
      expect(await readText((await transport.request({ url, method: 'GET' })).body)).toBe('ok');
      const err = await transport.request({ url, method: 'GET' }).catch((e: unknown) => e);
      expect(served).toBe(2);
      expect((err as SocketError).code).toBe('HEADERS_TIMEOUT');
      expect((err as Error).message).toBe('headers timeout');
    } finally {
      await transport.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    }
  });
});
