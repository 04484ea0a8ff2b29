import { DOCKER_HUB, isLoopbackRegistry } from '@pd/oci-types';
import { type Challenge, challengesOf, pickChallenge } from './auth/challenge.js';
import {
  answeredInPlainHttp,
  connectionError,
  errorForResponse,
  isAbortError,
  RegistryError,
} from './errors.js';
import { discard, type HttpTransport, header, type Logger } from './transport/http.js';
import {
  isRetryableError,
  isRetryableStatus,
  parseRetryAfter,
  RetryBudget,
  type RetryPolicy,
  sleep,
} from './transport/retry.js';

/** Where Docker Hub's API lives: images are named `docker.io/...`, the API answers elsewhere. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

/** The host that serves the API of `registry`: `registry-1.docker.io` for Docker Hub, else `registry`. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB || registry === 'index.docker.io' ? DOCKER_HUB_API : registry;
}

export interface Endpoint {
  registry: string;
  /** `https://host[:port]` or, for loopback/insecure registries that do not speak TLS, `http://...`. */
  origin: string;
  /** TLS certificates are not verified (registries marked insecure, loopback). */
  insecureTls: boolean;
  /** What `GET /v2/` answered. */
  status: number;
  /** The challenge of `/v2/`, or a later 401; undefined while the registry asked for no auth. */
  challenge: Challenge | undefined;
  /** Every challenge `/v2/` offered (all WWW-Authenticate lines), supported or not. */
  challenges: Challenge[];
  apiVersion: string | undefined;
}

/**
 * Call `fn` with the endpoint once `ping` finds it. For hints (connections opened ahead): a failed
 * ping is reported to those who await `resolve`, and an `fn` that throws fails nothing.
 */
function settleInto(ping: Promise<Endpoint>, fn: (ep: Endpoint) => void): void {
  ping.then(fn).catch(() => undefined);
}

/**
 * Finds how to talk to each registry, once per client: `GET /v2/` over HTTPS, and over plain
 * HTTP only for loopback hosts or registries the caller marked insecure (then HTTPS is still
 * tried first, like docker's insecure-registries). The answer also yields the auth challenge.
 */
export class Endpoints {
  private readonly cache = new Map<string, Promise<Endpoint>>();
  /** Callbacks of `whenResolved` for registries no ping was started for yet. */
  private readonly waiting = new Map<string, Array<(ep: Endpoint) => void>>();

  constructor(
    private readonly http: HttpTransport,
    private readonly options: {
      insecure: boolean | readonly string[];
      policy: RetryPolicy;
      logger?: Logger | undefined;
    },
  ) {}

  /** The caller said this registry may skip TLS verification and fall back to HTTP. */
  isInsecure(registry: string): boolean {
    const i = this.options.insecure;
    return i === true || (Array.isArray(i) && i.includes(registry));
  }

  allowsHttp(registry: string): boolean {
    return isLoopbackRegistry(registry) || this.isInsecure(registry);
  }

  /** Whether `resolve` has been asked for this registry (its `/v2/` answered or on the way). */
  isKnown(registry: string): boolean {
    return this.cache.has(registry);
  }

  /**
   * Where the API of `registry` most likely answers, before `/v2/` says: the origin its ping
   * tries first. Only for a request sent alongside the ping and kept if the ping agrees.
   */
  likely(registry: string): Pick<Endpoint, 'origin' | 'insecureTls'> {
    return { origin: this.origins(registry)[0] as string, insecureTls: this.allowsHttp(registry) };
  }

  resolve(registry: string, signal?: AbortSignal): Promise<Endpoint> {
    let p = this.cache.get(registry);
    if (!p) {
      p = this.ping(registry, signal);
      this.cache.set(registry, p);
      // A failed ping is not remembered: the next call tries again.
      p.catch(() => this.cache.delete(registry));
      const waiting = this.waiting.get(registry);
      this.waiting.delete(registry);
      for (const fn of waiting ?? []) settleInto(p, fn);
    }
    return p;
  }

  /**
   * Call `fn` with the endpoint once a ping of `registry` finds it, without starting one: a
   * request sent beside the first ping must not wait behind it (see `likely`).
   */
  whenResolved(registry: string, fn: (ep: Endpoint) => void): void {
    const p = this.cache.get(registry);
    if (p) {
      settleInto(p, fn);
      return;
    }
    const waiting = this.waiting.get(registry) ?? [];
    waiting.push(fn);
    this.waiting.set(registry, waiting);
  }

  forget(registry: string): void {
    this.cache.delete(registry);
  }

  /** The origins to try, in order. */
  private origins(registry: string): string[] {
    const host = apiHost(registry);
    // Loopback registries are almost always plain HTTP (a local registry, a test one): try that
    // first and spare the failed TLS handshake; HTTPS stays the fallback. (crane tries HTTPS
    // first there and starts HTTP once that fails, or after 300 ms.) Other registries marked
    // insecure try HTTPS first.
    if (isLoopbackRegistry(registry)) return [`http://${host}`, `https://${host}`];
    return this.allowsHttp(registry) ? [`https://${host}`, `http://${host}`] : [`https://${host}`];
  }

  private async ping(registry: string, signal?: AbortSignal): Promise<Endpoint> {
    const host = apiHost(registry);
    const fallback = this.allowsHttp(registry);
    const origins = this.origins(registry);
    let lastError: unknown;
    for (let i = 0; i < origins.length; i++) {
      const origin = origins[i] as string;
      const hasNext = i < origins.length - 1;
      const budget = new RetryBudget(this.options.policy);
      for (;;) {
        try {
          const res = await this.http.request({
            url: new URL('/v2/', origin),
            method: 'GET',
            signal,
            insecureTls: fallback,
          });
          const retryDelay = isRetryableStatus(res.status)
            ? budget.next(parseRetryAfter(header(res.headers, 'retry-after')))
            : undefined;
          await discard(res.body);
          // Plain HTTP to a TLS port: Go servers answer 400 ("Client sent an HTTP request to an
          // HTTPS server"); that is no registry answer while HTTPS is still to be tried.
          if (hasNext && origin.startsWith('http:') && res.status === 400) break;
          if (retryDelay !== undefined) {
            await sleep(retryDelay, signal);
            continue;
          }
          if (res.status >= 500) {
            throw new RegistryError(`${registry} failed with HTTP ${res.status} on /v2/`, {
              registry,
              status: res.status,
              hint: 'the registry is failing; try again later',
            });
          }
          // A 429/408 that outlasted the budget is no answer: going on would spend a second
          // budget on the next request against a registry that already told us to back off.
          if (isRetryableStatus(res.status)) {
            throw errorForResponse(
              res.status,
              [],
              { registry, what: `${registry} /v2/` },
              { credentials: false, retryAfter: header(res.headers, 'retry-after') },
            );
          }
          return {
            registry,
            origin,
            insecureTls: fallback,
            status: res.status,
            challenge: res.status === 401 ? pickChallenge(challengesOf(res.headers)) : undefined,
            challenges: res.status === 401 ? challengesOf(res.headers) : [],
            apiVersion: header(res.headers, 'docker-distribution-api-version'),
          };
        } catch (e) {
          if (isAbortError(e) || signal?.aborted) throw signal?.reason ?? e;
          if (e instanceof RegistryError) throw e;
          lastError = e;
          // With an HTTP fallback ahead, a failed HTTPS attempt moves on at once instead of retrying.
          const delay = !hasNext && isRetryableError(e) ? budget.next() : undefined;
          if (delay === undefined) {
            // HTTPS answered in plain HTTP, so the HTTP attempt before it met a passing fault
            // (a reset connection): go back to HTTP, this time with retries.
            const http = origins[0] as string;
            if (i === 1 && origins.length === 2 && http.startsWith('http:') && answeredInPlainHttp(e)) {
              origins.push(http);
            }
            break;
          }
          await sleep(delay, signal);
        }
      }
      if (hasNext) this.options.logger?.debug?.(`${registry}: ${origin} failed, trying ${origins[i + 1]}`);
    }
    throw connectionError(lastError, host, registry);
  }
}
