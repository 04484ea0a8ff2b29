import { AuthError, connectionError, credentialsRejected, isAbortError, RegistryError } from '../errors.js';
import { discard, type HttpTransport, header, type Logger, readText, redactUrl } from '../transport/http.js';
import {
  isRetryableError,
  isRetryableStatus,
  parseRetryAfter,
  RetryBudget,
  type RetryPolicy,
  sleep,
} from '../transport/retry.js';

/** Client id sent to token servers (they log it; Docker Hub requires one for refresh tokens). */
export const CLIENT_ID = 'pd';

// The token spec's default lifetime when the server gives none.
const DEFAULT_EXPIRES_IN = 60;

export interface TokenRequest {
  registry: string;
  realm: string;
  service: string | undefined;
  scopes: string[];
  /** Basic credentials for a GET token request. */
  username?: string | undefined;
  password?: string | undefined;
  /** An OAuth2 refresh token: POST grant_type=refresh_token instead of GET. */
  refreshToken?: string | undefined;
  /** Ask for a refresh token too (login does, to store an identity token instead of the password). */
  offline?: boolean;
  /** Whether the realm may be plain HTTP (loopback or insecure registries). */
  allowHttp: boolean;
  signal?: AbortSignal | undefined;
}

export interface TokenResponse {
  token: string;
  /** Local clock time (ms) after which the token should not be used. */
  expiresAt: number;
  refreshToken: string | undefined;
}

/**
 * Get a bearer token from the realm of a registry's challenge (docker token spec; OAuth2 form
 * when a refresh token is configured). Retries on overload and resets; a refusal is an
 * AuthError that never quotes the secret.
 */
export async function fetchToken(
  http: HttpTransport,
  req: TokenRequest,
  policy: RetryPolicy,
  logger?: Logger,
): Promise<TokenResponse> {
  let realm: URL;
  try {
    realm = new URL(req.realm);
  } catch {
    throw new AuthError(`${req.registry} announced an invalid token realm`, {
      registry: req.registry,
      hint: 'the registry is misconfigured (WWW-Authenticate realm is not a URL)',
    });
  }
  const sendsSecret = req.refreshToken !== undefined || req.password !== undefined;
  if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && req.allowHttp) && sendsSecret) {
    throw new AuthError(`refusing to send credentials for ${req.registry} to ${redactUrl(realm)}`, {
      registry: req.registry,
      hint: 'the token realm is not HTTPS; mark the registry insecure only if you trust the network',
    });
  }

  const budget = new RetryBudget(policy);
  const user = req.refreshToken !== undefined ? undefined : req.username;
  for (;;) {
    let res: Awaited<ReturnType<HttpTransport['request']>>;
    try {
      res = await send(http, realm, req);
    } catch (e) {
      if (isAbortError(e) || req.signal?.aborted) throw req.signal?.reason ?? e;
      const delay = isRetryableError(e) ? budget.next() : undefined;
      if (delay !== undefined) {
        logger?.debug?.(`token request to ${realm.host} failed, retry in ${Math.round(delay)} ms`);
        await sleep(delay, req.signal);
        continue;
      }
      throw connectionError(e, realm.host, req.registry);
    }
    if (isRetryableStatus(res.status)) {
      const delay = budget.next(parseRetryAfter(header(res.headers, 'retry-after')));
      if (delay !== undefined) {
        await discard(res.body);
        logger?.debug?.(
          `token server ${realm.host} answered ${res.status}, retry in ${Math.round(delay)} ms`,
        );
        await sleep(delay, req.signal);
        continue;
      }
    }
    const text = await readText(res.body, 1 << 20);
    if (res.status === 401 || res.status === 403 || (res.status === 400 && /invalid_grant/.test(text))) {
      if (!sendsSecret) {
        throw new AuthError(`${req.registry}: anonymous access refused by the token server`, {
          registry: req.registry,
          status: res.status,
          hint: `run pd login ${req.registry}`,
        });
      }
      throw credentialsRejected('authentication failed', req.registry, user, { status: res.status });
    }
    if (res.status !== 200) {
      throw new RegistryError(`token server ${realm.host} answered HTTP ${res.status}`, {
        registry: req.registry,
        status: res.status,
        hint: 'the registry authentication service is failing; try again later',
      });
    }
    return parseTokenResponse(text, req.registry, realm.host);
  }
}

function send(http: HttpTransport, realm: URL, req: TokenRequest) {
  if (req.refreshToken !== undefined) {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: req.refreshToken,
      client_id: CLIENT_ID,
    });
    if (req.service) form.set('service', req.service);
    if (req.scopes.length) form.set('scope', req.scopes.join(' '));
    if (req.offline) form.set('access_type', 'offline');
    return http.request({
      url: realm,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
      signal: req.signal,
    });
  }
  const url = new URL(realm);
  if (req.service) url.searchParams.set('service', req.service);
  for (const s of req.scopes) url.searchParams.append('scope', s);
  if (req.offline) {
    url.searchParams.set('offline_token', 'true');
    url.searchParams.set('client_id', CLIENT_ID);
  }
  const headers: Record<string, string> = {};
  if (req.username !== undefined && req.password !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${req.username}:${req.password}`).toString('base64')}`;
  }
  return http.request({ url, method: 'GET', headers, signal: req.signal });
}

function parseTokenResponse(text: string, registry: string, host: string): TokenResponse {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new RegistryError(`token server ${host} returned malformed JSON`, { registry });
  }
  // Docker's original field is `token`, OAuth2's is `access_token`; servers send either or both.
  const token =
    typeof body.token === 'string' && body.token
      ? body.token
      : typeof body.access_token === 'string'
        ? body.access_token
        : '';
  if (!token) throw new RegistryError(`token server ${host} returned no token`, { registry });
  const expiresIn =
    typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_EXPIRES_IN;
  return {
    token,
    // Local clock: issued_at comes from another clock and skew would make tokens look expired.
    expiresAt: Date.now() + expiresIn * 1000,
    refreshToken:
      typeof body.refresh_token === 'string' && body.refresh_token ? body.refresh_token : undefined,
  };
}
