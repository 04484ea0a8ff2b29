import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { DigestMismatchError, SizeMismatchError } from '@pd/oci-types';
import { missingTools, selfSignedCertificate } from '@pd/test-fixtures';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { RegistryClient } from '../src/index.js';
import { parseHead, SocketError } from '../src/transport/http1.js';
import {
  fileSink,
  receive,
  type SocketDownloadRequest,
  socketDownload,
  type WriteSink,
} from '../src/transport/socket-download.js';
import { WarmSockets } from '../src/transport/warm-sockets.js';
import { randomData, tempDir } from './helpers.js';

// The socket path against servers that answer byte by byte as a test needs: heads split across
// packets, chunked bodies, early closes. The real registry is in blobs.test.ts.

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const servers: Pick<Server, 'close'>[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A server that runs `answer` on each connection once the request head has arrived. */
async function serve(answer: (socket: Socket, requestHead: string) => void): Promise<URL> {
  const server = createServer((socket) => {
    let head = '';
    socket.on('data', (d) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) answer(socket, head);
    });
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return new URL(`http://127.0.0.1:${port}/v2/r/blobs/x`);
}

function request(url: URL, body: Buffer, over: Partial<SocketDownloadRequest> = {}): SocketDownloadRequest {
  return {
    url,
    headers: { authorization: 'Bearer t0ken' },
    path: '',
    digest: sha256(body),
    algorithm: 'sha256',
    size: body.length,
    what: 'blob x',
    timeouts: { connect: 2000, headers: 2000, body: 2000 },
    ...over,
  };
}

/** Collects what is written, each write taking `delay` ms (slower than loopback delivers). */
function slowSink(delay: number): WriteSink & { bytes: () => Buffer; sizes: number[] } {
  const parts: Buffer[] = [];
  const sizes: number[] = [];
  return {
    sizes,
    bytes: () => Buffer.concat(parts),
    async write(chunks) {
      await new Promise((r) => setTimeout(r, delay));
      for (const chunk of chunks) parts.push(Buffer.from(chunk));
      sizes.push(chunks.reduce((n, c) => n + c.length, 0));
    },
  };
}

const ok = (length: number) =>
  `HTTP/1.1 200 OK\r\nContent-Length: ${length}\r\nContent-Type: application/octet-stream\r\n\r\n`;

describe('socket download', () => {
  test('a head split across packets and a body in small writes: the same bytes, credentials sent', async () => {
    const body = randomData(300_000);
    let seen = '';
    const url = await serve((s, head) => {
      seen = head;
      const text = ok(body.length);
      s.write(text.slice(0, 7));
      setTimeout(() => {
        s.write(text.slice(7));
        for (let off = 0; off < body.length; off += 1000) s.write(body.subarray(off, off + 1000));
        s.end();
      }, 20);
    });
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'blob');
      const out = await socketDownload(request(url, body, { path }));
      expect(out).toEqual({ kind: 'stored', size: body.length });
      expect(readFileSync(path).equals(body)).toBe(true);
      expect(seen).toMatch(/^GET \/v2\/r\/blobs\/x HTTP\/1\.1\r\n/);
      expect(seen).toMatch(/\r\nauthorization: Bearer t0ken\r\n/);
      expect(seen).toMatch(/\r\nhost: 127\.0\.0\.1:\d+\r\n/);
    } finally {
      cleanup();
    }
  });

  test('writes slower than the socket: reading pauses, nothing is lost or reordered', async () => {
    const body = randomData(9 << 20);
    // Odd-sized writes, the head sharing the first: reads end anywhere in a write buffer, so a
    // pause leaves the rest of a read waiting.
    const url = await serve((s) => {
      s.write(Buffer.concat([Buffer.from(ok(body.length)), body.subarray(0, 1234)]));
      for (let off = 1234; off < body.length; off += 100_003) s.write(body.subarray(off, off + 100_003));
      s.end();
    });
    const sink = slowSink(15);
    const out = await receive(request(url, body), sink);
    expect(out).toEqual({ kind: 'stored', size: body.length });
    expect(sha256(sink.bytes())).toBe(sha256(body));
    expect(Math.max(...sink.sizes)).toBe(1 << 20);
  });

  test('a chunked or encoded answer, or another status, is handed back with its head', async () => {
    const body = randomData(1000);
    const chunked = await serve((s) => {
      s.end(
        `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n${body.toString('latin1')}\r\n0\r\n\r\n`,
      );
    });
    expect(await receive(request(chunked, body), slowSink(0))).toMatchObject({
      kind: 'answered',
      status: 200,
      headers: { 'transfer-encoding': 'chunked' },
    });
    const redirect = await serve((s) => {
      s.end(
        'HTTP/1.1 307 Temporary Redirect\r\nLocation: http://storage.example/b?sig=1\r\nContent-Length: 0\r\n\r\n',
      );
    });
    expect(await receive(request(redirect, body), slowSink(0))).toEqual({
      kind: 'answered',
      status: 307,
      headers: { location: 'http://storage.example/b?sig=1', 'content-length': '0' },
    });
  });

  test('a connection closed early is a SocketError; a wrong length fails before the body', async () => {
    const body = randomData(50_000);
    const short = await serve((s) => {
      s.write(ok(body.length));
      s.end(body.subarray(0, 20_000));
    });
    const err = await receive(request(short, body), slowSink(0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toMatchObject({
      code: 'ECONNRESET',
      message: 'connection closed after 20000 of 50000 bytes',
    });

    const sink = slowSink(0);
    const longer = await serve((s) => {
      s.write(ok(body.length + 1));
      s.end(body);
    });
    expect(await receive(request(longer, body), sink).catch((e: unknown) => e)).toBeInstanceOf(
      SizeMismatchError,
    );
    expect(sink.sizes).toEqual([]);
  });

  test('an abort ends the exchange with its reason', async () => {
    const body = randomData(100_000);
    const url = await serve((s) => s.write(ok(body.length))); // and then nothing
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop now')), 50);
    const err = await receive(request(url, body, { signal: ac.signal }), slowSink(0)).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toBe('stop now');
  });

  test('heads: status, lower-case names, repeated headers joined; anything else is refused', () => {
    expect(parseHead('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2')).toEqual({
      status: 200,
      headers: { 'content-length': '5', 'x-a': '1, 2' },
    });
    expect(parseHead('HTTP/1.0 404')).toEqual({ status: 404, headers: {} });
    expect(() => parseHead('SSH-2.0-OpenSSH_9.2')).toThrow(SocketError);
  });
});

describe('a body that is not the blob asked for', () => {
  // The sink may be an upload (blob-pipe.ts): it must never get every byte of a wrong blob.
  for (const [how, over] of [
    ['hashed where it lands', {}],
    ['hashed on a thread', { hashThreadFrom: 0 }],
  ] as const) {
    test(`${how}: the last write buffer is never written`, async () => {
      // Sizes ending mid-buffer, then on a buffer's end and just short of it (where a read would
      // be small): the buffer with the last byte was flushed early there before dc56aeb.
      const onEdge = [3 << 20, (3 << 20) - 1000];
      for (const size of [600_000, (3 << 20) + 12_345, ...onEdge]) {
        const body = randomData(size);
        const url = await serve((s) => {
          s.write(Buffer.from(ok(body.length)));
          for (let off = 0; off < body.length; off += 65_536) s.write(body.subarray(off, off + 65_536));
          s.end();
        });
        const sink = slowSink(0);
        const err = await receive(request(url, body, { ...over, digest: sha256(randomData(8)) }), sink).catch(
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(DigestMismatchError);
        // Whole buffers before the last went on (a MiB each at most); the last one did not.
        const written = sink.bytes().length;
        expect(written).toBeLessThan(size);
        // A buffer read into in place goes out once within 64 KiB of full, so near a MiB's end
        // more than the whole MiBs may have gone; only "not the last" holds there.
        if (!onEdge.includes(size)) expect(written).toBeLessThanOrEqual(Math.floor(size / (1 << 20)) << 20);
        if (size < 1 << 20) expect(written).toBe(0);
      }
    });
  }
});

describe('socket download, hashed on a thread', () => {
  const onThread = { hashThreadFrom: 0 };
  /** A server sending `body` in odd-sized writes, the head sharing the first. */
  const sending = (body: Buffer, upTo = body.length) =>
    serve((s) => {
      s.write(Buffer.concat([Buffer.from(ok(body.length)), body.subarray(0, 777)]));
      for (let off = 777; off < upTo; off += 65_537)
        s.write(body.subarray(off, Math.min(upTo, off + 65_537)));
      s.end();
    });

  test('several at once, more than there are threads, writes slower than the socket: each verified', async () => {
    const bodies = Array.from({ length: 6 }, (_, i) => randomData((3 << 20) + i * 4099));
    const sinks = bodies.map(() => slowSink(5));
    const outs = await Promise.all(
      bodies.map(async (body, i) => receive(request(await sending(body), body, onThread), sinks[i]!)),
    );
    expect(outs).toEqual(bodies.map((b) => ({ kind: 'stored', size: b.length })));
    expect(sinks.map((sink, i) => sink.bytes().equals(bodies[i]!))).toEqual(bodies.map(() => true));
  });

  test('a body that is not the digest fails with the digest it had', async () => {
    const body = randomData(2 << 20);
    const other = randomData(16);
    const err = await receive(
      request(await sending(body), body, { ...onThread, digest: sha256(other) }),
      slowSink(0),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as Error).message).toContain(sha256(body));
  });

  test('a connection closed mid-body or an abort ends it with its error, nothing left waiting', async () => {
    const body = randomData(3 << 20);
    const short = await receive(request(await sending(body, 2_000_000), body, onThread), slowSink(2)).catch(
      (e: unknown) => e,
    );
    expect(short).toMatchObject({
      code: 'ECONNRESET',
      message: `connection closed after 2000000 of ${body.length} bytes`,
    });

    const stalled = await serve((s) =>
      s.write(Buffer.concat([Buffer.from(ok(body.length)), body.subarray(0, 1_500_000)])),
    );
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop now')), 100);
    const err = await receive(request(stalled, body, { ...onThread, signal: ac.signal }), slowSink(1)).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toBe('stop now');
    // The threads are still good for the next download.
    const again = randomData(1 << 20);
    expect(await receive(request(await sending(again), again, onThread), slowSink(0))).toEqual({
      kind: 'stored',
      size: again.length,
    });
  });
});

describe.skipIf(missingTools('openssl'))('socket download over TLS', () => {
  const certs = tempDir('pd-sock-tls-');
  // A certificate for the name `localhost` (and 127.0.0.1), made by openssl and trusted by no one.
  const files = selfSignedCertificate(certs.dir, 'localhost', ['DNS:localhost', 'IP:127.0.0.1']);
  const key = readFileSync(files.key);
  const cert = readFileSync(files.certificate);
  afterAll(() => certs.cleanup());

  /** A TLS server answering each request head with `answer`; records the SNI name it was sent. */
  async function serveTls(
    answer: (socket: TLSSocket) => void,
    host = '127.0.0.1',
  ): Promise<{ url: URL; names: (string | false | null)[] }> {
    const names: (string | false | null)[] = [];
    const server = createTlsServer({ key, cert }, (socket) => {
      names.push(socket.servername);
      let head = '';
      socket.on('data', (d) => {
        head += d.toString('latin1');
        if (head.includes('\r\n\r\n')) answer(socket);
      });
      socket.on('error', () => {});
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    return { url: new URL(`https://${host}:${port}/v2/r/blobs/x`), names };
  }

  const answerWith = (body: Buffer, step: number) => (s: TLSSocket) => {
    s.write(Buffer.concat([Buffer.from(ok(body.length)), body.subarray(0, 777)]));
    for (let off = 777; off < body.length; off += step) s.write(body.subarray(off, off + step));
    s.end();
  };

  test.each([
    ['hashed where the bytes land', undefined],
    ['hashed on a thread', 1],
  ])(
    'writes slower than the socket (%s): reading pauses, nothing is lost or reordered',
    async (_how, from) => {
      const body = randomData(12 << 20);
      const { url, names } = await serveTls(answerWith(body, 100_003));
      const sink = slowSink(15);
      // Bytes received but not yet written, each time the download reports progress.
      const ahead: number[] = [];
      const onBytes = (n: number) => ahead.push(n - sink.bytes().length);
      const out = await receive(
        request(url, body, { insecureTls: true, hashThreadFrom: from, onBytes }),
        sink,
      );
      expect(out).toEqual({ kind: 'stored', size: body.length });
      expect(sha256(sink.bytes())).toBe(sha256(body));
      // On a thread: the shared 1 MiB write buffers. Else the TLS chunks (16 KiB at most) as
      // they came, about 1 MiB of them per write.
      const largest = Math.max(...sink.sizes);
      expect(largest).toBeGreaterThanOrEqual(1 << 20);
      expect(largest).toBeLessThanOrEqual(from ? 1 << 20 : (1 << 20) + 16 * 1024);
      // Four batches and a chunk or two: reading stopped before more arrived.
      expect(Math.max(...ahead)).toBeLessThanOrEqual(4.5 * (1 << 20));
      // An address is not a server name: no SNI.
      expect(names).toEqual([false]);
    },
  );

  test('the certificate is checked unless the registry is insecure; SNI names the host', async () => {
    const body = randomData(100_000);
    const { url, names } = await serveTls(answerWith(body, 10_000), 'localhost');
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'blob');
      const refused = await socketDownload(request(url, body, { path })).catch((e: unknown) => e);
      expect((refused as NodeJS.ErrnoException).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
      expect(readFileSync(path).length).toBe(0);
      rmSync(path);
      const out = await socketDownload(request(url, body, { path, insecureTls: true }));
      expect(out).toEqual({ kind: 'stored', size: body.length });
      expect(readFileSync(path).equals(body)).toBe(true);
      expect(names.at(-1)).toBe('localhost');
    } finally {
      cleanup();
    }
  });

  test('a flipped byte fails with the digest it had; the sink never gets the whole body', async () => {
    const body = randomData(3 << 20);
    const bad = Buffer.from(body);
    bad[bad.length >> 1]! ^= 0xff;
    const { url } = await serveTls(answerWith(bad, 65_536));
    const sink = slowSink(0);
    const err = await receive(request(url, body, { insecureTls: true }), sink).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as Error).message).toContain(sha256(bad));
    expect(sink.bytes().length).toBeLessThan(body.length);
  });
});

/** Like `serve`, also counting the connections it accepted and those that closed; `drop` closes a new one at once. */
async function serveCounting(
  answer: (socket: Socket) => void,
  drop: (n: number) => boolean = () => false,
): Promise<{ url: URL; accepted: () => number; closed: () => number }> {
  let accepted = 0;
  let closed = 0;
  const server = createServer((socket) => {
    socket.on('close', () => closed++);
    socket.on('error', () => {});
    if (drop(++accepted)) return socket.destroy();
    let head = '';
    socket.on('data', (d) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) answer(socket);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: new URL(`http://127.0.0.1:${port}/v2/r/blobs/x`),
    accepted: () => accepted,
    closed: () => closed,
  };
}

const until = async (ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(ok()).toBe(true);
};

describe('connections opened ahead (WarmSockets)', () => {
  test('each GET takes one that is already connected: no connection opened for it', async () => {
    const body = randomData(200_000);
    const server = await serveCounting((s) => s.end(Buffer.concat([Buffer.from(ok(body.length)), body])));
    const warm = new WarmSockets();
    warm.open(server.url, 2);
    // Asked again (a copy of many tags asks per tag): the two waiting count.
    warm.open(server.url, 2);
    await until(() => server.accepted() === 2);
    // Connected: the request goes at once.
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 2; i++) {
      const sink = slowSink(0);
      expect(await receive(request(server.url, body, { warm }), sink)).toEqual({
        kind: 'stored',
        size: body.length,
      });
      expect(sink.bytes().equals(body)).toBe(true);
    }
    expect(server.accepted()).toBe(2);
    // None left: the next one connects as before.
    expect(await receive(request(server.url, body, { warm }), slowSink(0))).toMatchObject({ kind: 'stored' });
    expect(server.accepted()).toBe(3);
  });

  test('one taken while still connecting sends its request once connected', async () => {
    const body = randomData(1000);
    const server = await serveCounting((s) => s.end(Buffer.concat([Buffer.from(ok(body.length)), body])));
    const warm = new WarmSockets();
    warm.open(server.url, 1);
    expect(await receive(request(server.url, body, { warm }), slowSink(0))).toMatchObject({ kind: 'stored' });
    expect(server.accepted()).toBe(1);
  });

  test('one the server dropped before a GET asked is not taken; those never taken close with close()', async () => {
    const body = randomData(1000);
    const server = await serveCounting(
      (s) => s.end(Buffer.concat([Buffer.from(ok(body.length)), body])),
      (n) => n === 1,
    );
    const warm = new WarmSockets();
    warm.open(server.url, 1);
    await until(() => server.closed() === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(await receive(request(server.url, body, { warm }), slowSink(0))).toMatchObject({ kind: 'stored' });
    expect(server.accepted()).toBe(2);
    warm.open(server.url, 2);
    await until(() => server.accepted() === 4);
    warm.close();
    await until(() => server.closed() === 4);
  });

  test.skipIf(missingTools('openssl'))(
    'over HTTPS, the GET goes on a connection whose handshake is done',
    async () => {
      const body = randomData(300_000);
      const { dir, cleanup } = tempDir();
      try {
        const tls = selfSignedCertificate(dir, '127.0.0.1', ['IP:127.0.0.1']);
        let accepted = 0;
        const server = createTlsServer(
          { key: readFileSync(tls.key), cert: readFileSync(tls.certificate) },
          (s) => {
            accepted++;
            s.on('error', () => {});
            s.once('data', () => s.end(Buffer.concat([Buffer.from(ok(body.length)), body])));
          },
        );
        servers.push(server);
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        const url = new URL(`https://127.0.0.1:${(server.address() as { port: number }).port}/v2/r/blobs/x`);
        const warm = new WarmSockets();
        warm.open(url, 1, true);
        await until(() => accepted === 1);
        const sink = slowSink(0);
        expect(await receive(request(url, body, { warm, insecureTls: true }), sink)).toEqual({
          kind: 'stored',
          size: body.length,
        });
        expect(sink.bytes().equals(body)).toBe(true);
        expect(accepted).toBe(1);
      } finally {
        cleanup();
      }
    },
  );
});

describe.skipIf(missingTools('openssl'))('connections opened ahead follow the ping', () => {
  test('a loopback registry that speaks only TLS: they open over HTTPS once /v2/ answered there, and the downloads take them', async () => {
    // Over TLS only blobs of 8 MiB or more go on connections of their own (download.ts).
    const blobs = [randomData(8 << 20), randomData((8 << 20) + 1)];
    const { dir, cleanup } = tempDir();
    const tls = selfSignedCertificate(dir, '127.0.0.1', ['IP:127.0.0.1']);
    // Every TLS connection in the order accepted, with the requests it carried.
    const connections: string[][] = [];
    const server = createHttpsServer(
      { key: readFileSync(tls.key), cert: readFileSync(tls.certificate) },
      (req, res) => {
        connections[(req.socket as TLSSocket & { n: number }).n]!.push(`${req.method} ${req.url}`);
        const blob = blobs.find((b) => req.url?.endsWith(sha256(b)));
        if (req.url === '/v2/')
          return res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' }).end();
        if (!blob) return res.writeHead(404).end();
        res.writeHead(200, { 'content-length': blob.length }).end(blob);
      },
    );
    server.on('secureConnection', (s) => {
      (s as TLSSocket & { n: number }).n = connections.push([]) - 1;
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const registry = `127.0.0.1:${(server.address() as { port: number }).port}`;
    const client = new RegistryClient({ dockerConfig: false });
    try {
      client.preconnect({ registry, repository: 'r' }, { count: 2 });
      // Plain HTTP is tried first (a loopback registry), and the TLS server drops it.
      await client.ping(registry);
      await until(() => connections.length === 3);
      await Promise.all(
        blobs.map((b, i) =>
          client.downloadBlob({ registry, repository: 'r' }, sha256(b), join(dir, `b${i}`), {
            size: b.length,
          }),
        ),
      );
      for (const [i, b] of blobs.entries()) expect(readFileSync(join(dir, `b${i}`)).equals(b)).toBe(true);
      // The ping's connection, then the two opened ahead, each of which served one download.
      expect(connections.map((c) => c.length)).toEqual([1, 1, 1]);
      expect(connections.slice(1).flat().sort()).toEqual(
        blobs.map((b) => `GET /v2/r/blobs/${sha256(b)}`).sort(),
      );
    } finally {
      await client.close();
      cleanup();
    }
  });
});

describe('fileSink', () => {
  test('writes chunks in order at its position, finishing short writes', async () => {
    const file = Buffer.alloc(40);
    const calls: number[] = [];
    // A handle whose writev takes at most 5 bytes at a time.
    const handle = {
      async writev(buffers: Buffer[], position: number) {
        const all = Buffer.concat(buffers).subarray(0, 5);
        all.copy(file, position);
        calls.push(position);
        return { bytesWritten: all.length, buffers };
      },
    };
    const sink = fileSink(handle as never, 10);
    await sink.write([Buffer.from('abc'), Buffer.from('defgh'), Buffer.from('ij')]);
    await sink.write([Buffer.from('klmnop')]);
    expect(file.subarray(10, 26).toString()).toBe('abcdefghijklmnop');
    expect(calls).toEqual([10, 15, 20, 25]);
  });
});
