import type { Credential, CredentialStore } from '../credentials/store.js';
import { AuthError } from '../errors.js';
import type { HttpTransport, Logger } from '../transport/http.js';
import type { RetryPolicy } from '../transport/retry.js';
import type { Challenge } from './challenge.js';
import type { ScopeSet } from './scope.js';
import { fetchToken } from './token.js';

/** What to send with a request, and who it speaks for (for error messages; never the secret). */
export interface Authorization {
  header: string | undefined;
  /** Credentials (not just an anonymous token) are behind the header. */
  credentials: boolean;
  scheme: 'basic' | 'bearer' | undefined;
  user: string | undefined;
}

interface CachedToken {
  scopes: ScopeSet;
  token: string;
  expiresAt: number;
}

interface RegistryAuth {
  challenge: Challenge | undefined;
  tokens: CachedToken[];
  inflight: Map<string, Promise<CachedToken>>;
  /** A refresh token the token server handed out in this session. */
  refreshToken: string | undefined;
}

// Renew a little early so a token does not expire between the check and the registry's check.
const EXPIRY_MARGIN_MS = 5_000;
/** No Authorization header: what goes to a registry that asked for none. */
export const NONE: Authorization = {
  header: undefined,
  credentials: false,
  scheme: undefined,
  user: undefined,
};

/**
 * Turns a registry's challenge and the caller's credentials into Authorization headers. Bearer
 * tokens are cached per registry with the scopes they were requested for, so a token for
 * `repo:pull,push` also serves a later `repo:pull`; concurrent requests share one token fetch.
 */
export class Authenticator {
  private readonly registries = new Map<string, RegistryAuth>();

  constructor(
    private readonly http: HttpTransport,
    private readonly credentials: CredentialStore,
    private readonly options: {
      policy: RetryPolicy;
      logger?: Logger | undefined;
      allowHttp: (registry: string) => boolean;
    },
  ) {}

  private state(registry: string): RegistryAuth {
    let s = this.registries.get(registry);
    if (!s) {
      s = { challenge: undefined, tokens: [], inflight: new Map(), refreshToken: undefined };
      this.registries.set(registry, s);
    }
    return s;
  }

  /** Record the challenge from `/v2/` or from a 401. */
  setChallenge(registry: string, challenge: Challenge | undefined): void {
    const s = this.state(registry);
    if (challenge) s.challenge = challenge;
  }

  challenge(registry: string): Challenge | undefined {
    return this.registries.get(registry)?.challenge;
  }

  /** Drop cached tokens that were used for these scopes (the registry refused them). */
  invalidate(registry: string, scopes: ScopeSet): void {
    const s = this.registries.get(registry);
    if (s) s.tokens = s.tokens.filter((t) => !t.scopes.covers(scopes));
  }

  /** Forget everything about a registry (after login/logout). */
  reset(registry: string): void {
    this.registries.delete(registry);
    this.credentials.forget(registry);
  }

  async authorize(registry: string, scopes: ScopeSet, signal?: AbortSignal): Promise<Authorization> {
    const s = this.state(registry);
    const challenge = s.challenge;
    if (!challenge) return NONE;
    const cred = await this.credentials.get(registry, signal);
    const user = displayUser(cred);
    if (cred?.registryToken) {
      return { header: `Bearer ${cred.registryToken}`, credentials: true, scheme: 'bearer', user };
    }
    if (challenge.scheme === 'basic') {
      if (cred?.username === undefined || cred.password === undefined) return { ...NONE, scheme: 'basic' };
      const basic = Buffer.from(`${cred.username}:${cred.password}`).toString('base64');
      return { header: `Basic ${basic}`, credentials: true, scheme: 'basic', user };
    }
    const token = await raceSignal(this.token(registry, s, challenge, scopes, cred), signal);
    return { header: `Bearer ${token.token}`, credentials: cred !== undefined, scheme: 'bearer', user };
  }

  private token(
    registry: string,
    s: RegistryAuth,
    challenge: Challenge,
    scopes: ScopeSet,
    cred: Credential | undefined,
  ): Promise<CachedToken> {
    const now = Date.now();
    s.tokens = s.tokens.filter((t) => t.expiresAt - EXPIRY_MARGIN_MS > now);
    const cached = s.tokens.find((t) => t.scopes.covers(scopes));
    if (cached) return Promise.resolve(cached);
    const key = scopes.key();
    const pending = s.inflight.get(key);
    if (pending) return pending;

    const realm = challenge.params.realm;
    if (!realm) {
      return Promise.reject(
        new AuthError(`${registry} asked for a bearer token without naming a realm`, {
          registry,
          hint: 'the registry is misconfigured (WWW-Authenticate has no realm)',
        }),
      );
    }
    const refreshToken = cred?.identityToken ?? s.refreshToken;
    const p = fetchToken(
      this.http,
      {
        registry,
        realm,
        service: challenge.params.service,
        scopes: scopes.toStrings(),
        username: cred?.username,
        password: cred?.password,
        refreshToken,
        allowHttp: this.options.allowHttp(registry),
        // Shared by concurrent callers: one caller's abort must not fail the others.
        signal: undefined,
      },
      this.options.policy,
      this.options.logger,
    )
      .then((t) => {
        if (t.refreshToken) s.refreshToken = t.refreshToken;
        const entry: CachedToken = { scopes, token: t.token, expiresAt: t.expiresAt };
        s.tokens.push(entry);
        this.options.logger?.debug?.(`${registry}: token for ${key || '(no scope)'}`);
        return entry;
      })
      .finally(() => s.inflight.delete(key));
    s.inflight.set(key, p);
    return p;
  }
}

function displayUser(cred: Credential | undefined): string | undefined {
  if (!cred) return undefined;
  if (cred.username && cred.username !== '<token>') return cred.username;
  return undefined;
}

function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
