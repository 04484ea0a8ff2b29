import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A reverse proxy in front of a real registry that injects faults and counts traffic. It keeps
 * the client's Host header, so the registry's absolute Location URLs point back at the proxy.
 */

export type Fault =
  /** Close the client connection as soon as the request arrives; nothing reaches the registry. */
  | { kind: 'reset' }
  /** Forward, then cut the connection after `afterBytes` bytes of the response body. */
  | { kind: 'reset-body'; afterBytes: number }
  /** Answer with this status (and a distribution-style error body) instead of forwarding. */
  | { kind: 'status'; status: number; retryAfter?: string; code?: string }
  /** Forward the response headers, then send nothing more (until the client gives up). */
  | { kind: 'stall' }
  /** Forward, sending the response body at about `bytesPerSecond`. */
  | { kind: 'slow'; bytesPerSecond: number }
  /** Forward, holding the whole response back for `ms` first (a far or busy registry). */
  | { kind: 'delay'; ms: number }
  /** Forward, inverting the bits of one response body byte (default: the middle one). */
  | { kind: 'flip-byte'; offset?: number }
  /** Forward without the Range header, as a registry without range support would answer. */
  | { kind: 'strip-range' }
  /**
   * Forward, sending these `WWW-Authenticate` header lines instead of the registry's own (only on
   * responses that carry one). In a line, `{upstream}` stands for the registry's challenge, so
   * `['Negotiate', '{upstream}']` sends two lines, `['Negotiate, {upstream}']` one joined line.
   */
  | { kind: 'www-authenticate'; lines: string[] };

export interface FaultRule {
  fault: Fault;
  method?: string;
  /** Matched against the path without query: a RegExp, or a substring. */
  path?: RegExp | string;
  /** Let this many matching requests through untouched first (default 0). */
  skip?: number;
  /** Apply to this many matching requests, then stop (default: all). */
  times?: number;
  /**
   * Chance of applying to a matching request (default 1). Drawn from a generator seeded with
   * PD_TEST_SEED (fixed in vitest.shared.ts), so a run's faults are the same each time it runs
   * its requests in the same order; PD_TEST_SEED=<n> tries other ones.
   */
  probability?: number;
}

export interface ProxiedRequest {
  method: string;
  /** Path with query. */
  url: string;
  path: string;
  status: number;
  /** Request body bytes received from the client. */
  requestBytes: number;
  /** Response body bytes sent to the client. */
  responseBytes: number;
  range: string | undefined;
  authorization: boolean;
  fault: Fault['kind'] | undefined;
  /** Which client connection carried it: 1 for the first the proxy accepted, and so on. */
  connection: number;
  /** When the request arrived and when its answer ended (performance.now() of the proxy). */
  startedAt: number;
  endedAt: number;
}

export interface FaultHandle {
  /** How many requests this rule has been applied to. */
  readonly hits: number;
  remove(): void;
}

export interface FaultProxy {
  url: string;
  /** `127.0.0.1:PORT`, to use as the registry part of references. */
  host: string;
  port: number;
  inject(rule: FaultRule): FaultHandle;
  clearFaults(): void;
  /** Every finished request, in order. */
  readonly log: readonly ProxiedRequest[];
  requests(filter?: RequestFilter): ProxiedRequest[];
  /** Response body bytes sent for requests matching the filter. */
  bytesSent(filter?: RequestFilter): number;
  resetStats(): void;
  stop(): Promise<void>;
}

export type RequestFilter = { method?: string; path?: RegExp | string };

interface ActiveRule extends FaultRule {
  hits: number;
  seen: number;
}

/** mulberry32: a small seeded generator of numbers in [0, 1). */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  let rules: ActiveRule[] = [];
  let log: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const connectionIds = new WeakMap<Socket, number>();
  let connections = 0;
  const random = seededRandom(Number(process.env.PD_TEST_SEED ?? 20261204));

  const pick = (req: IncomingMessage, path: string): Fault | undefined => {
    for (const rule of rules) {
      if (rule.method && rule.method !== req.method) continue;
      if (!matches(rule.path, path)) continue;
      rule.seen++;
      if (rule.skip !== undefined && rule.seen <= rule.skip) continue;
      if (rule.times !== undefined && rule.hits >= rule.times) continue;
      if (rule.probability !== undefined && random() >= rule.probability) continue;
      rule.hits++;
      return rule.fault;
    }
    return undefined;
  };

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? url;
    const fault = pick(req, path);
    const entry: ProxiedRequest = {
      method: req.method ?? 'GET',
      url,
      path,
      status: 0,
      requestBytes: 0,
      responseBytes: 0,
      range: header(req.headers, 'range'),
      authorization: req.headers.authorization !== undefined,
      fault: fault?.kind,
      connection: connectionIds.get(req.socket) ?? 0,
      startedAt: performance.now(),
      endedAt: 0,
    };
    let logged = false;
    const record = () => {
      if (!logged) {
        logged = true;
        entry.endedAt = performance.now();
        log.push(entry);
      }
    };
    res.on('close', record);
    req.on('data', (c: Buffer) => {
      entry.requestBytes += c.length;
    });

    if (fault?.kind === 'reset') {
      entry.status = -1;
      req.socket.destroy();
      record();
      return;
    }
    if (fault?.kind === 'status') {
      req.resume();
      req.on('end', () => {
        entry.status = fault.status;
        const body = JSON.stringify({
          errors: [{ code: fault.code ?? codeFor(fault.status), message: `injected ${fault.status}` }],
        });
        const headers: Record<string, string | number> = {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        };
        if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
        res.writeHead(fault.status, headers);
        res.end(body);
        entry.responseBytes = Buffer.byteLength(body);
      });
      return;
    }

    const headers = { ...req.headers };
    if (fault?.kind === 'strip-range') delete headers.range;
    const up = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: url,
        headers,
      },
      (upRes) => {
        if (fault?.kind !== 'delay') return forward(upRes, res, fault, entry);
        upRes.pause();
        setTimeout(() => forward(upRes, res, fault, entry), fault.ms);
      },
    );
    up.on('error', () => {
      entry.status = -1;
      res.destroy();
    });
    req.pipe(up);
    req.on('error', () => up.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    connectionIds.set(s, ++connections);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const select = (f?: RequestFilter) =>
    log.filter((r) => (!f?.method || r.method === f.method) && matches(f?.path, r.path));

  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    inject(rule) {
      const active: ActiveRule = { ...rule, hits: 0, seen: 0 };
      rules.push(active);
      return {
        get hits() {
          return active.hits;
        },
        remove() {
          rules = rules.filter((r) => r !== active);
        },
      };
    },
    clearFaults() {
      rules = [];
    },
    get log() {
      return log;
    },
    requests: select,
    bytesSent: (f) => select(f).reduce((n, r) => n + r.responseBytes, 0),
    resetStats() {
      log = [];
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function forward(
  upRes: IncomingMessage,
  res: ServerResponse,
  fault: Fault | undefined,
  entry: ProxiedRequest,
) {
  entry.status = upRes.statusCode ?? 0;
  const rawHeaders =
    fault?.kind === 'www-authenticate' ? withChallenges(upRes, fault.lines) : upRes.rawHeaders;
  res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, rawHeaders);
  const length = Number(upRes.headers['content-length'] ?? Number.NaN);
  const flipAt =
    fault?.kind === 'flip-byte'
      ? (fault.offset ?? (Number.isFinite(length) ? Math.floor(length / 2) : 0))
      : undefined;
  let offset = 0;

  if (fault?.kind === 'stall') {
    upRes.destroy();
    res.flushHeaders();
    return;
  }
  const pump = async () => {
    for await (const data of upRes) {
      let chunk = data as Buffer;
      if (flipAt !== undefined && flipAt >= offset && flipAt < offset + chunk.length) {
        chunk = Buffer.from(chunk);
        chunk[flipAt - offset] = (chunk[flipAt - offset] ?? 0) ^ 0xff;
      }
      if (fault?.kind === 'reset-body' && offset + chunk.length >= fault.afterBytes) {
        const part = chunk.subarray(0, Math.max(0, fault.afterBytes - offset));
        entry.responseBytes += part.length;
        upRes.destroy();
        // Let the partial bytes leave before the connection is cut.
        res.write(part, () => res.socket?.destroy());
        return;
      }
      offset += chunk.length;
      entry.responseBytes += chunk.length;
      const drained = res.write(chunk);
      if (fault?.kind === 'slow') {
        await new Promise((r) => setTimeout(r, Math.ceil((chunk.length / fault.bytesPerSecond) * 1000)));
      } else if (!drained) {
        await drainOrClose(res);
      }
      if (res.destroyed) return;
    }
    res.end();
  };
  pump().catch(() => res.destroy());
}

/** The response's raw headers with its WWW-Authenticate lines replaced (see the fault). */
function withChallenges(upRes: IncomingMessage, lines: string[]): string[] {
  const raw = upRes.rawHeaders;
  const own: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const [name, value] = [raw[i] as string, raw[i + 1] as string];
    if (name.toLowerCase() === 'www-authenticate') own.push(value);
    else rest.push(name, value);
  }
  if (own.length === 0) return raw;
  for (const line of lines) rest.push('WWW-Authenticate', line.replaceAll('{upstream}', own.join(', ')));
  return rest;
}

function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function matches(pattern: RegExp | string | undefined, path: string): boolean {
  if (pattern === undefined) return true;
  return typeof pattern === 'string' ? path.includes(pattern) : pattern.test(path);
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function codeFor(status: number): string {
  if (status === 429) return 'TOOMANYREQUESTS';
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  return 'UNKNOWN';
}
