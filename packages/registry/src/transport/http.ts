import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { NodeHttp } from './node-http.js';
import { PouredBody } from './poured-body.js';
import { socketRequest } from './socket-request.js';
import { WarmSockets } from './warm-sockets.js';

/** Forward proxies, as `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` give them. */
export interface ProxyOptions {
  /** Proxy URL for plain-HTTP registries. */
  httpProxy?: string | undefined;
  /** Proxy URL for HTTPS registries. */
  httpsProxy?: string | undefined;
  /** Comma-separated hosts (`.example.com`, `host:port`, `*`) reached directly. */
  noProxy?: string | undefined;
}

/** Hosts never sent through a proxy, as Go's http.ProxyFromEnvironment (docker, crane, skopeo) does. */
const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];

/**
 * Over HTTPS only bodies of this size or more go on a connection of their own (a blob GET, a
 * poured upload): each costs a TLS handshake (a round trip or two, and its CPU) that the agent's
 * kept-alive connections spare smaller ones, while a large body saves more than that by skipping
 * node:https's parser and streams (a 160 MB pull over TLS on loopback, four 40 MB layers: 815 ->
 * 788 ms median; a copy between two HTTPS registries: bench/results/2026-12-08-tls.md).
 */
const TLS_OWN_CONNECTION_FROM = 8 * 1024 * 1024;

/**
 * The proxy settings of an environment, read as curl and Go read them (lowercase first); undefined
 * when no proxy is set.
 */
export function proxyFromEnv(env: NodeJS.ProcessEnv = process.env): ProxyOptions | undefined {
  const httpProxy = env.http_proxy || env.HTTP_PROXY || undefined;
  const httpsProxy = env.https_proxy || env.HTTPS_PROXY || undefined;
  if (!httpProxy && !httpsProxy) return undefined;
  return { httpProxy, httpsProxy, noProxy: env.no_proxy || env.NO_PROXY || undefined };
}

/** HTTP timeouts, in milliseconds. */
export interface TimeoutOptions {
  /** ms to establish a connection (TCP + TLS), default 30 000. */
  connect?: number;
  /** ms to wait for response headers, default 120 000 (registries may hash a blob before answering a PUT). */
  headers?: number;
  /** ms a response body may stay silent between chunks, default 60 000. */
  body?: number;
}

/** Receives the client's log messages (`console` fits); both methods are optional. */
export interface Logger {
  /** Requests with status and time, retries, redirects, token fetches. */
  debug?(message: string): void;
  /** What the user should hear about (e.g. a login to a registry that needs none). */
  warn?(message: string): void;
}

export type HttpMethod = Dispatcher.HttpMethod;
export type BodyReadable = Dispatcher.ResponseData['body'];

export interface HttpRequest {
  url: URL;
  method: HttpMethod;
  headers?: Record<string, string>;
  /** A PouredBody (a file, a blob from another registry) goes onto a socket of its own where that applies. */
  body?: string | Uint8Array | Readable | PouredBody | null;
  signal?: AbortSignal | undefined;
  /** Skip certificate verification (registries the caller marked insecure). */
  insecureTls?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: BodyReadable;
  url: URL;
}

/**
 * The one place bytes leave the process: node:http and node:https straight to a registry,
 * undici's proxy agents (verifying and, for registries marked insecure, not verifying TLS)
 * through a forward proxy; timeouts, User-Agent, and redacted request logging. No redirects,
 * retries or auth here; those belong to the callers that know the rules.
 */
export class HttpTransport {
  private secureAgent: Promise<Dispatcher> | undefined;
  private nodeHttp: NodeHttp | undefined;
  private insecureAgent: Promise<Dispatcher> | undefined;
  /** Connections opened for blob downloads before they are asked for (RegistryClient.preconnect). */
  readonly warm = new WarmSockets();
  readonly timeouts: Required<TimeoutOptions>;

  constructor(
    private readonly options: {
      timeout?: TimeoutOptions | undefined;
      userAgent: string;
      logger?: Logger | undefined;
      proxy?: ProxyOptions | undefined;
    },
  ) {
    this.timeouts = { connect: 30_000, headers: 120_000, body: 60_000, ...options.timeout };
  }

  /** undici's proxy agent, loaded only when a request goes through a proxy. */
  private async agent(verify: boolean): Promise<Dispatcher> {
    const options = {
      connect: { timeout: this.timeouts.connect, rejectUnauthorized: verify },
      headersTimeout: this.timeouts.headers,
      bodyTimeout: this.timeouts.body,
      keepAliveTimeout: 30_000,
    };
    const proxy = this.options.proxy ?? {};
    const { EnvHttpProxyAgent } = await import('undici');
    // Through the proxy, `connect` applies to the proxy and `requestTls` to the registry behind it.
    return new EnvHttpProxyAgent({
      ...options,
      requestTls: { rejectUnauthorized: verify },
      ...(proxy.httpProxy ? { httpProxy: proxy.httpProxy } : {}),
      ...(proxy.httpsProxy ? { httpsProxy: proxy.httpsProxy } : {}),
      noProxy: [proxy.noProxy, ...LOOPBACK].filter(Boolean).join(','),
    });
  }

  /** The User-Agent every request carries. */
  get userAgent(): string {
    return this.options.userAgent;
  }

  /**
   * Whether a request to `url` goes straight to its host (no forward proxy applies). Only a host
   * on loopback counts as direct when a proxy is set: NO_PROXY matching is left to undici.
   */
  direct(url: URL): boolean {
    const proxy = this.options.proxy;
    return !proxy || (!proxy.httpProxy && !proxy.httpsProxy) || LOOPBACK.includes(url.hostname);
  }

  /** Whether a request to `url` can go on a socket of its own: straight to the host, HTTP or HTTPS. */
  socketable(url: URL): boolean {
    return (url.protocol === 'http:' || url.protocol === 'https:') && this.direct(url);
  }

  /**
   * Whether a request to `url` whose body (sent or received) is `size` bytes goes on a socket of
   * its own: where it can, over HTTPS only from {@link TLS_OWN_CONNECTION_FROM} bytes on.
   */
  ownConnection(url: URL, size: number | undefined): boolean {
    if (!this.socketable(url)) return false;
    return url.protocol === 'http:' || (size ?? 0) >= TLS_OWN_CONNECTION_FROM;
  }

  /** The agent for verified or unverified TLS, created on first use. */
  private dispatcher(insecure: boolean): Promise<Dispatcher> {
    if (insecure) {
      this.insecureAgent ??= this.agent(false);
      return this.insecureAgent;
    }
    this.secureAgent ??= this.agent(true);
    return this.secureAgent;
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const started = Date.now();
    const poured = req.body instanceof PouredBody ? req.body : undefined;
    // Straight to the host: node:http or node:https (node-http.ts says why), and a poured body on
    // a socket of its own (over HTTPS, a large one: ownConnection). Through a proxy: undici.
    const direct = this.direct(req.url);
    const socket = poured !== undefined && this.ownConnection(req.url, poured.size);
    const how = socket ? ', socket' : '';
    try {
      const res = await (socket
        ? this.overSocket(req, poured!)
        : direct
          ? this.overNodeHttp(req, poured)
          : this.overProxy(req, poured));
      this.options.logger?.debug?.(
        `${req.method} ${redactUrl(req.url)} -> ${res.status} (${Date.now() - started} ms${how})`,
      );
      return res;
    } catch (e) {
      this.options.logger?.debug?.(
        `${req.method} ${redactUrl(req.url)} failed after ${Date.now() - started} ms: ${errorLabel(e)}${how ? ' (socket)' : ''}`,
      );
      throw e;
    }
  }

  private headers(req: HttpRequest): Record<string, string> {
    return { 'user-agent': this.options.userAgent, ...req.headers };
  }

  /** The body as node:http and undici take it: a poured body as its stream. */
  private async streamBody(req: HttpRequest, poured: PouredBody | undefined) {
    return poured
      ? await poured.readable()
      : ((req.body as Exclude<HttpRequest['body'], PouredBody>) ?? null);
  }

  private overSocket(req: HttpRequest, body: PouredBody): Promise<HttpResponse> {
    return socketRequest({ ...req, headers: this.headers(req), body, timeouts: this.timeouts });
  }

  private async overNodeHttp(req: HttpRequest, poured: PouredBody | undefined): Promise<HttpResponse> {
    this.nodeHttp ??= new NodeHttp(this.timeouts);
    return this.nodeHttp.request({
      url: req.url,
      method: req.method,
      headers: this.headers(req),
      body: await this.streamBody(req, poured),
      signal: req.signal,
      insecureTls: req.insecureTls,
    });
  }

  private async overProxy(req: HttpRequest, poured: PouredBody | undefined): Promise<HttpResponse> {
    const dispatcher = await this.dispatcher(req.insecureTls === true);
    const res = await dispatcher.request({
      origin: req.url.origin,
      path: `${req.url.pathname}${req.url.search}`,
      method: req.method,
      headers: this.headers(req),
      body: await this.streamBody(req, poured),
      signal: req.signal ?? null,
      // Uploads are not idempotent at the HTTP level; never let undici replay them on its own.
      idempotent: req.method === 'GET' || req.method === 'HEAD',
    });
    return { status: res.statusCode, headers: res.headers, body: res.body, url: req.url };
  }

  async close(): Promise<void> {
    this.warm.close();
    this.nodeHttp?.close();
    this.nodeHttp = undefined;
    const agents = [this.secureAgent, this.insecureAgent];
    this.secureAgent = this.insecureAgent = undefined;
    await Promise.all(agents.map(async (a) => (await a)?.close()));
  }
}

/** First value of a response header. */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * A URL fit for messages and logs: no userinfo, no query (upload states, storage signatures and
 * realm parameters live there), no fragment.
 */
export function redactUrl(url: URL | string): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '<invalid url>';
  }
}

function errorLabel(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  const name = (e as { name?: unknown })?.name;
  return typeof code === 'string' ? code : typeof name === 'string' ? name : 'error';
}

/** Read a response body as text, up to `limit` bytes (error bodies, token responses). */
export async function readText(body: BodyReadable, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (size + buf.length > limit) {
      chunks.push(buf.subarray(0, limit - size));
      abandon(body);
      break;
    }
    chunks.push(buf);
    size += buf.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Stop reading a response body. undici reports a destroyed body as an error; nobody needs to hear it. */
export function abandon(body: BodyReadable): void {
  if (body.destroyed) return;
  body.on('error', () => {});
  body.destroy();
}

/** Discard a response body so the connection can be reused (or closed when it is large). */
export async function discard(body: BodyReadable): Promise<void> {
  try {
    await body.dump({ limit: 256 * 1024 });
  } catch {
    // the body is gone either way
  }
}
