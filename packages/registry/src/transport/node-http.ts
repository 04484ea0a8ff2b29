import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { BodyReadable, HttpResponse, TimeoutOptions } from './http.js';
import { SocketError, TIMEOUT_CODES } from './http1.js';

// Requests to registries reached directly, over HTTP or HTTPS, go through Node's own HTTP client.
// undici costs a command 80-250 ms before its first answer in a fresh process: its modules and
// node:http2, which it loads whatever the protocol, and the compilation of its WebAssembly parser
// (two GETs in a cold process: 212 ms with undici and --liftoff-only, 376 ms without, 133 ms
// with node:http; `node -e 0` 110 ms). A CLI pays that on every command. node:http parses
// natively and loads in 5 ms; node:https is node:http over node:tls, the TLS stack undici uses
// too (same trust store, same error codes). Proxies stay with undici.

export interface NodeHttpRequest {
  /** An `http:` or `https:` URL. */
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: string | Uint8Array | Readable | null;
  signal?: AbortSignal | undefined;
  /** HTTPS without checking the server's certificate (an insecure registry). */
  insecureTls?: boolean | undefined;
}

/** The response stream with the one method of undici's body that callers use beyond a Readable's. */
function asBody(res: IncomingMessage): BodyReadable {
  const dump = ({ limit = 128 * 1024 }: { limit?: number } = {}) =>
    new Promise<void>((resolve) => {
      // `complete` is not enough: a short body that arrived whole still waits in the stream, and
      // the agent frees the socket for the next request only at 'end', once it has been read.
      if (res.readableEnded || res.destroyed) return resolve();
      let seen = 0;
      res.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        // Past the limit the connection is not worth keeping: drop it instead of reading on.
        if (seen > limit) res.destroy();
      });
      res.once('end', () => resolve());
      res.once('close', () => resolve());
      res.once('error', () => resolve());
      res.resume();
    });
  return Object.assign(res, { dump }) as unknown as BodyReadable;
}

/** node:http and node:https with keep-alive agents; see the header comment for why. */
export class NodeHttp {
  /** By kind: plain, TLS verified, TLS unverified. */
  private readonly agents = new Map<'http' | 'https' | 'https-insecure', Agent>();
  /**
   * Requests in flight by the signal that aborts them: one listener per signal, not one per
   * request (a command's one signal over a dozen concurrent requests set off Node's leak warning).
   */
  private readonly inFlight = new WeakMap<AbortSignal, Set<ClientRequest>>();
  private readonly responses = new WeakMap<ClientRequest, IncomingMessage>();

  private watch(signal: AbortSignal, r: ClientRequest): void {
    let requests = this.inFlight.get(signal);
    if (!requests) {
      const set = new Set<ClientRequest>();
      requests = set;
      this.inFlight.set(signal, set);
      signal.addEventListener(
        'abort',
        () => {
          // A body already handed out hears the reason itself, not a reset of its socket.
          for (const q of set) (this.responses.get(q) ?? q).destroy(signal.reason);
          set.clear();
        },
        { once: true },
      );
    }
    requests.add(r);
    r.once('close', () => requests.delete(r));
  }

  constructor(private readonly timeouts: Required<TimeoutOptions>) {}

  private agent(tls: boolean, verify: boolean): Agent {
    const kind = !tls ? 'http' : verify ? 'https' : 'https-insecure';
    let agent = this.agents.get(kind);
    if (!agent) {
      const keep = { keepAlive: true, keepAliveMsecs: 30_000, scheduling: 'lifo' } as const;
      agent = tls
        ? new (process.getBuiltinModule('node:https').Agent)({ ...keep, rejectUnauthorized: verify })
        : new (process.getBuiltinModule('node:http').Agent)(keep);
      this.agents.set(kind, agent);
    }
    return agent;
  }

  request(req: NodeHttpRequest): Promise<HttpResponse> {
    const { url, body } = req;
    const tls = url.protocol === 'https:';
    const http = process.getBuiltinModule(tls ? 'node:https' : 'node:http');
    return new Promise((resolve, reject) => {
      let phase: 'connect' | 'headers' | 'body' = 'connect';
      let done = false;
      let response: IncomingMessage | undefined;
      let bodyError: unknown;
      const r: ClientRequest = http.request({
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: Number(url.port || (tls ? 443 : 80)),
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers: { host: url.host, ...req.headers },
        agent: this.agent(tls, req.insecureTls !== true),
      });
      if (req.signal) {
        if (req.signal.aborted) {
          r.destroy(req.signal.reason);
        } else this.watch(req.signal, r);
      }
      // The socket's idle timeout, set for each phase: connecting, sending until the answer's
      // head (registries hash an upload before answering), then the body.
      const idle = (ms: number) => r.setTimeout(ms);
      r.on('timeout', () => {
        if (done) return;
        const e = new SocketError(`${phase} timeout`, TIMEOUT_CODES[phase]);
        // Once the body flows, its reader is the one to hear why it stopped.
        if (response) response.destroy(e);
        else r.destroy(e);
      });
      r.on('socket', (socket) => {
        // A kept-alive socket is connected already: the wait is for the answer.
        if (!socket.connecting) {
          phase = 'headers';
          return idle(this.timeouts.headers);
        }
        // Connected means the TLS handshake done, for HTTPS: it is part of the connect phase.
        idle(this.timeouts.connect);
        socket.once(tls ? 'secureConnect' : 'connect', () => {
          if (phase === 'connect') phase = 'headers';
          idle(this.timeouts.headers);
        });
      });
      // After the answer, errors of the request (a refused rest of a body) are the response's.
      r.on('error', (e) => reject(bodyError ?? e));
      r.once('response', (res) => {
        response = res;
        this.responses.set(r, res);
        phase = 'body';
        idle(this.timeouts.body);
        res.once('close', () => {
          done = true;
        });
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: asBody(res), url });
      });
      if (body === null || typeof body === 'string' || body instanceof Uint8Array) {
        r.end(body ?? undefined);
        return;
      }
      // A failing body ends the request with the body's own error (a digest mismatch of the
      // source, say), which the requester reports as it is. (pipeline() would abort() the
      // request, and its error would be a socket hang-up.)
      body.once('error', (e) => {
        bodyError = e;
        r.destroy(e);
      });
      body.pipe(r);
    });
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}
