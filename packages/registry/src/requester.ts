import type { Readable } from 'node:stream';
import { type AbortGroup, abortGroup } from '@pd/internal';
import { isLoopbackRegistry, PdError } from '@pd/oci-types';
import { challengesOf, pickChallenge, UnsupportedAuthSchemeError } from './auth/challenge.js';
import { parseScopes, ScopeSet } from './auth/scope.js';
import { type Authenticator, type Authorization, NONE } from './auth/session.js';
import type { Endpoint, Endpoints } from './endpoint.js';
import {
  connectionError,
  errorForResponse,
  isAbortError,
  parseErrorBody,
  RegistryError,
  type Subject,
} from './errors.js';
import {
  abandon,
  discard,
  type HttpMethod,
  type HttpResponse,
  type HttpTransport,
  header,
  type Logger,
  readText,
  redactUrl,
} from './transport/http.js';
import type { PouredBody } from './transport/poured-body.js';
import {
  isRetryableError,
  isRetryableStatus,
  parseRetryAfter,
  RetryBudget,
  type RetryPolicy,
  sleep,
} from './transport/retry.js';

/** A request body that can be produced again for a retry. */
export type BodySource = string | Uint8Array | (() => Readable | PouredBody | Promise<Readable | PouredBody>);

export interface SendOptions {
  registry: string;
  method: HttpMethod;
  /** `/v2/...` under the registry's API origin, or an absolute URL (an upload Location). */
  path: string | URL;
  headers?: Record<string, string>;
  body?: BodySource;
  scopes: ScopeSet;
  /** Statuses handed back to the caller; anything else becomes a typed error. */
  ok: readonly number[];
  subject: Subject;
  signal?: AbortSignal | undefined;
  /** Follow redirects (blob GETs go to object storage); Authorization stays on the registry's origin. */
  followRedirects?: boolean;
  /** Retry resets, 5xx and 429 (default true). */
  retry?: boolean;
  budget?: RetryBudget;
}

export interface RegistryResponse extends HttpResponse {
  /** The Authorization that went with the final request. */
  authorization: Authorization;
}

/** A request sent before its registry's `/v2/` answered (`Requester.early`). */
interface Early {
  url: URL;
  origin: string;
  outcome: Promise<{ res: HttpResponse } | { error: unknown }>;
  group: AbortGroup;
}

/** Statuses that send a request elsewhere (`Location`), and how many of them a request follows. */
export const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
export const MAX_REDIRECTS = 5;

/**
 * Sends registry API requests: resolves the endpoint, authorizes for the scopes, answers one 401
 * by re-authenticating with the scopes the challenge names, follows redirects without leaking
 * credentials, and retries resets, 5xx and 429 (honouring Retry-After) within a budget.
 */
export class Requester {
  constructor(
    readonly http: HttpTransport,
    readonly endpoints: Endpoints,
    readonly auth: Authenticator,
    readonly policy: RetryPolicy,
    readonly logger: Logger | undefined,
  ) {}

  async endpoint(registry: string, signal?: AbortSignal): Promise<Endpoint> {
    const ep = await this.endpoints.resolve(registry, signal);
    this.auth.setChallenge(registry, ep.challenge);
    return ep;
  }

  async send(opts: SendOptions): Promise<RegistryResponse> {
    const budget = opts.budget ?? new RetryBudget(this.policy);
    const retry = opts.retry !== false;
    let scopes = opts.scopes;
    let reauthenticated = false;
    let early = this.early(opts);
    for (;;) {
      opts.signal?.throwIfAborted();
      const ep = await this.endpoint(opts.registry, opts.signal).catch((e: unknown) => {
        if (early) drop(early);
        throw e;
      });
      const ahead = early && (await this.adopt(early, ep));
      early = undefined;
      const authorization = ahead ? NONE : await this.auth.authorize(opts.registry, scopes, opts.signal);
      let res: HttpResponse;
      let url = typeof opts.path === 'string' ? new URL(opts.path, ep.origin) : sameHostScheme(opts.path, ep);
      try {
        if (ahead && 'error' in ahead) throw ahead.error;
        res = ahead ? ahead.res : await this.exchange(opts, ep, url, authorization);
        url = res.url;
      } catch (e) {
        if (isAbortError(e) || opts.signal?.aborted) throw opts.signal?.reason ?? e;
        // pd's own errors (a request body that failed its digest check) are final as they are.
        const own = pdErrorIn(e);
        if (own) throw own;
        const delay = retry && isRetryableError(e) ? budget.next() : undefined;
        if (delay !== undefined) {
          this.logger?.debug?.(
            `${opts.method} ${redactUrl(url)}: ${errCode(e)}, retry ${budget.attempt} in ${Math.round(delay)} ms`,
          );
          await sleep(delay, opts.signal);
          continue;
        }
        throw connectionError(e, url.host, opts.registry, this.http.timeouts);
      }

      const challenges = res.status === 401 ? challengesOf(res.headers) : [];
      // Challenges, but none pd can answer: no credentials would help, so say so.
      if (challenges.length > 0 && !pickChallenge(challenges)) {
        await discard(res.body);
        throw new UnsupportedAuthSchemeError(opts.subject.what, opts.registry, challenges);
      }
      if (res.status === 401 && !reauthenticated) {
        const challenge = pickChallenge(challenges);
        // Basic credentials that were just refused will be refused again; anything else may
        // need a token with more scopes (the challenge names them) or a fresh one.
        if (challenge && !(challenge.scheme === 'basic' && authorization.header)) {
          await discard(res.body);
          this.auth.setChallenge(opts.registry, challenge);
          this.auth.invalidate(opts.registry, scopes);
          scopes = scopes.union(new ScopeSet(parseScopes(challenge.params.scope)));
          reauthenticated = true;
          continue;
        }
      }
      if (opts.ok.includes(res.status)) return { ...res, authorization };

      const retryAfter = header(res.headers, 'retry-after');
      if (retry && isRetryableStatus(res.status)) {
        const delay = budget.next(parseRetryAfter(retryAfter));
        if (delay !== undefined) {
          await discard(res.body);
          this.logger?.debug?.(
            `${opts.method} ${redactUrl(url)}: HTTP ${res.status}, retry ${budget.attempt} in ${Math.round(delay)} ms`,
          );
          await sleep(delay, opts.signal);
          continue;
        }
      }
      const text = opts.method === 'HEAD' ? '' : await readText(res.body);
      if (opts.method === 'HEAD') await discard(res.body);
      throw errorForResponse(res.status, parseErrorBody(text), opts.subject, {
        credentials: authorization.credentials,
        rejected:
          res.status === 401 && authorization.scheme === 'basic' && authorization.header !== undefined,
        user: authorization.user,
        retryAfter,
      });
    }
  }

  /**
   * `send`, then `consume` the response inside the same retry budget: a body cut short by a reset
   * is fetched again. For bounded bodies only (manifests, lists); blobs resume instead.
   */
  async call<T>(opts: SendOptions, consume: (res: RegistryResponse) => Promise<T>): Promise<T> {
    const budget = opts.budget ?? new RetryBudget(this.policy);
    for (;;) {
      const res = await this.send({ ...opts, budget });
      try {
        return await consume(res);
      } catch (e) {
        abandon(res.body);
        if (isAbortError(e) || opts.signal?.aborted) throw opts.signal?.reason ?? e;
        if (!isRetryableError(e)) throw e;
        const delay = opts.retry !== false ? budget.next() : undefined;
        if (delay === undefined) throw connectionError(e, res.url.host, opts.registry, this.http.timeouts);
        await sleep(delay, opts.signal);
      }
    }
  }

  /**
   * The first GET or HEAD to a registry goes out beside its `/v2/` ping, without credentials,
   * instead of after it: a round trip less for every command (40 ms to a registry 40 ms away),
   * as containerd, which sends no ping, saves it. Undefined for any other request.
   */
  private early(opts: SendOptions): Early | undefined {
    if (opts.method !== 'GET' && opts.method !== 'HEAD') return undefined;
    if (opts.body !== undefined || typeof opts.path !== 'string') return undefined;
    if (this.endpoints.isKnown(opts.registry)) return undefined;
    const guess = this.endpoints.likely(opts.registry);
    const group = abortGroup(opts.signal);
    const url = new URL(opts.path, guess.origin);
    const outcome = this.exchange({ ...opts, signal: group.signal }, guess, url, NONE).then(
      (res) => ({ res }),
      (error: unknown) => ({ error }),
    );
    return { url, origin: guess.origin, outcome, group };
  }

  /**
   * The early request's outcome, once the ping has answered, where it stands for the first
   * attempt: the ping found the origin it went to and asked for no auth (the same request would
   * have gone, so its answer or its failure counts), or the registry gave a 2xx without auth.
   * Else it is dropped and the request sent as if it had never been.
   */
  private async adopt(early: Early, ep: Endpoint): Promise<Awaited<Early['outcome']> | undefined> {
    const dropped = () => {
      this.logger?.debug?.(`${redactUrl(early.url)}: sent before /v2/ answered, not kept: sent again`);
      return undefined;
    };
    if (early.origin !== ep.origin) {
      drop(early);
      return dropped();
    }
    const outcome = await early.outcome;
    if (!this.auth.challenge(ep.registry)) return outcome;
    if (!('res' in outcome)) return dropped();
    if (outcome.res.status >= 200 && outcome.res.status < 300) return outcome;
    // Read to its end, the refused answer leaves its connection to the next request.
    await discard(outcome.res.body);
    return dropped();
  }

  /** One request plus its redirects. */
  private async exchange(
    opts: SendOptions,
    ep: Pick<Endpoint, 'origin' | 'insecureTls'>,
    first: URL,
    authorization: Authorization,
  ): Promise<HttpResponse> {
    let url = first;
    for (let hops = 0; ; hops++) {
      const home = url.origin === ep.origin;
      const headers: Record<string, string> = { ...opts.headers };
      // Credentials belong to the registry's origin only: never to object storage behind a redirect.
      if (home && authorization.header) headers.authorization = authorization.header;
      const body = typeof opts.body === 'function' ? await opts.body() : opts.body;
      const res = await this.http.request({
        url,
        method: opts.method,
        headers,
        body: body ?? null,
        signal: opts.signal,
        insecureTls: home && ep.insecureTls,
      });
      if (!opts.followRedirects || !REDIRECTS.has(res.status)) return res;
      const location = header(res.headers, 'location');
      if (!location) return res;
      await discard(res.body);
      if (hops >= MAX_REDIRECTS) {
        throw new RegistryError(`${opts.subject.what}: too many redirects`, {
          registry: opts.registry,
          status: res.status,
        });
      }
      const next = new URL(location, url);
      if (next.protocol === 'http:' && url.protocol === 'https:' && !isLoopbackRegistry(next.host)) {
        throw new RegistryError(
          `${opts.subject.what}: refusing a redirect from HTTPS to ${redactUrl(next)}`,
          {
            registry: opts.registry,
            hint: 'the registry redirected to plain HTTP; the content could be tampered with in transit',
          },
        );
      }
      this.logger?.debug?.(`redirected to ${redactUrl(next)}`);
      url = next;
    }
  }
}

/**
 * A Location on the registry's own host keeps the endpoint's scheme: registries behind a
 * TLS-terminating proxy often build `http://` URLs for themselves, and following one would
 * send credentials and content in clear (or hit the TLS port with plain HTTP).
 */
function sameHostScheme(url: URL, ep: Endpoint): URL {
  const origin = new URL(ep.origin);
  if (url.host !== origin.host || url.protocol === origin.protocol) return url;
  const fixed = new URL(url);
  fixed.protocol = origin.protocol;
  return fixed;
}

/** Cancel an early request nobody will use, or drop the answer it got. */
function drop(early: Early): void {
  early.group.abort();
  void early.outcome.then((o) => 'res' in o && abandon(o.res.body));
}

function pdErrorIn(e: unknown): PdError | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur && typeof cur === 'object'; i++) {
    if (cur instanceof PdError) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function errCode(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? code : 'error';
}
