import { connect } from 'node:net';
import { Readable } from 'node:stream';
import type { BodyReadable, HttpResponse } from './http.js';
import { type Head, parseHead, requestHead, SocketError, TIMEOUT_CODES } from './http1.js';
import type { PouredBody } from './poured-body.js';
import { connectTls } from './warm-sockets.js';

// A request whose body is poured (a file, a blob piped from another registry), over plain HTTP
// or TLS, on a connection of its own. Through undici a 1 GB push read the file into a fresh
// Buffer per 64 KiB, passed each through a stream and kept it until written: pd spent 1.4 s of
// user and 1.0 s of system CPU where the same upload from two reused buffers onto a socket
// spends 0.9 and 0.35 (hashing included), and on 2 cores that CPU is taken from the registry
// receiving it (bench/results/2026-12-06-push.md). Over TLS a pour's chunks go onto the socket
// corked, so that a batch of them is encrypted and sent in one go rather than a record and a
// send per 16 KiB chunk as a stream piped from a download wrote them (a copy between two HTTPS
// registries: bench/results/2026-12-08-tls.md). Proxies stay with undici. The response is
// handed back like undici's, for the requester to judge: auth challenges, error bodies and
// statuses are its business.

/** Ends a pour once the server answered: the rest would go nowhere. */
const ANSWERED = new Error('the server answered before the body ended');

/** Response heads larger than this are not a registry's. */
const HEAD_LIMIT = 64 * 1024;
/** Response bodies kept (error documents); the rest is dropped. */
const BODY_LIMIT = 256 * 1024;

export interface SocketRequest {
  /** An `http:` or `https:` URL. */
  url: URL;
  /** HTTPS without checking the server's certificate (an insecure registry's own origin). */
  insecureTls?: boolean | undefined;
  method: string;
  /** Content-Length included: the body's size. */
  headers: Record<string, string>;
  body: PouredBody;
  timeouts: { connect: number; headers: number; body: number };
  signal?: AbortSignal | undefined;
}

/** The response body: what the server sent after its head, held in memory (it is small). */
function receivedBody(bytes: Buffer): BodyReadable {
  const body = Readable.from(bytes.length > 0 ? [bytes] : []);
  // The part of undici's body that discard() uses.
  return Object.assign(body, { dump: async () => void body.destroy() }) as unknown as BodyReadable;
}

/** Length of a chunked body's content, once its last chunk arrived; undefined before. */
function dechunk(raw: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const n = Number.parseInt(raw.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(n)) throw new SocketError('bad chunk size in response', 'EPROTO');
    if (n === 0) return Buffer.concat(parts);
    if (raw.length < eol + 2 + n + 2) return undefined;
    parts.push(raw.subarray(eol + 2, eol + 2 + n));
    at = eol + 2 + n + 2;
  }
}

/** Send `req` and resolve with the server's answer; an answer before the body's end stops the body there. */
export function socketRequest(req: SocketRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let head: Head | undefined;
    let received: Buffer<ArrayBufferLike> = Buffer.alloc(0);
    let settled = false;
    let sending = true;
    let connected = false;

    const tls = req.url.protocol === 'https:';
    const socket = tls
      ? connectTls(req.url, req.insecureTls)
      : connect({ host: req.url.hostname.replace(/^\[|\]$/g, ''), port: Number(req.url.port || 80) });
    const finish = (e: unknown, res?: HttpResponse) => {
      if (settled) return;
      settled = true;
      req.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (e === undefined) resolve(res!);
      else reject(e);
    };
    const onAbort = () => finish(req.signal?.reason ?? new Error('aborted'));

    /** The response is complete when its length is reached, its last chunk came, or the connection ended. */
    const answer = (ended: boolean) => {
      if (!head) return;
      const { headers } = head;
      let body: Buffer | undefined;
      const length = headers['content-length'];
      if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) body = dechunk(received);
      else if (length !== undefined && /^\d+$/.test(length)) {
        if (received.length >= Number(length)) body = received.subarray(0, Number(length));
      } else if (ended || req.method === 'HEAD' || head.status === 204 || head.status === 304)
        body = received;
      if (body === undefined && received.length > BODY_LIMIT) body = received.subarray(0, BODY_LIMIT);
      if (body === undefined) {
        if (ended) finish(new SocketError('connection closed inside the response body', 'ECONNRESET'));
        return;
      }
      finish(undefined, { status: head.status, headers, body: receivedBody(body), url: req.url });
    };

    /** The chunks onto the socket in one go; resolves once the last is written. */
    const write = (chunks: readonly Buffer[]) =>
      new Promise<void>((done, fail) => {
        if (chunks.length === 0) return done();
        socket.cork();
        const last = chunks.length - 1;
        chunks.forEach((chunk, i) => {
          socket.write(chunk, i === last ? (e) => (e ? fail(e) : done()) : undefined);
        });
        socket.uncork();
      });

    /** The body, poured onto the socket; an answer before its end (a refusal) stops it there. */
    const send = async () => {
      await req.body.pour((chunks) => (head || settled ? Promise.reject(ANSWERED) : write(chunks)));
      sending = false;
      // Registries hash the blob before they answer: the headers timeout starts now.
      if (!head) socket.setTimeout(req.timeouts.headers);
    };

    socket.setNoDelay(true);
    socket.setTimeout(req.timeouts.connect);
    // Connected means the TLS handshake done, for HTTPS: it is part of the connect phase.
    socket.on(tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      socket.setTimeout(req.timeouts.body);
      socket.write(requestHead(req.method, req.url, req.headers));
      send().catch((e: unknown) => {
        // Once the server answered (and maybe closed), its answer is what counts.
        if (!head) finish(e);
      });
    });
    socket.on('data', (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      if (!head) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) {
          if (received.length > HEAD_LIMIT) finish(new SocketError('response head too large', 'EPROTO'));
          return;
        }
        try {
          head = parseHead(received.subarray(0, end).toString('latin1'));
        } catch (e) {
          return finish(e);
        }
        received = received.subarray(end + 4);
        socket.setTimeout(req.timeouts.body);
      }
      answer(false);
    });
    socket.on('timeout', () => {
      const phase = !connected ? 'connect' : head || sending ? 'body' : 'headers';
      finish(new SocketError(`${phase} timeout`, TIMEOUT_CODES[phase]));
    });
    socket.on('error', (e) => {
      if (head) answer(true);
      finish(e);
    });
    socket.on('end', () => {
      if (head) return answer(true);
      finish(new SocketError('connection closed before the response head', 'ECONNRESET'));
    });
    req.signal?.addEventListener('abort', onAbort, { once: true });
    if (req.signal?.aborted) onAbort();
  });
}
