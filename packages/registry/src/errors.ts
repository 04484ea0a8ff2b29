import { PdError, truncate } from '@pd/oci-types';

/** One entry of a distribution error body: `{"errors":[{"code","message","detail"}]}`. */
export interface RegistryErrorDetail {
  code: string;
  message?: string;
  detail?: unknown;
}

export interface RegistryErrorInit {
  /** HTTP status, or undefined when no response arrived (connection failures). */
  status?: number | undefined;
  errors?: RegistryErrorDetail[];
  registry: string;
  hint?: string | undefined;
  code?: string;
  cause?: unknown;
}

/**
 * A registry answered with an error, or could not be reached. `codes` are the registry's own
 * error codes (`MANIFEST_UNKNOWN`, `DENIED`, `TOOMANYREQUESTS`...), possibly empty.
 */
export class RegistryError extends PdError {
  readonly status: number | undefined;
  readonly codes: string[];
  readonly errors: RegistryErrorDetail[];
  readonly registry: string;

  constructor(message: string, init: RegistryErrorInit) {
    super(message, {
      code: init.code ?? 'REGISTRY_ERROR',
      ...(init.hint ? { hint: init.hint } : {}),
      ...(init.cause !== undefined ? { cause: init.cause } : {}),
    });
    this.status = init.status;
    this.errors = init.errors ?? [];
    this.codes = this.errors.map((e) => e.code);
    this.registry = init.registry;
  }
}

/** Credentials are missing, wrong, or lack the permission for the operation. */
export class AuthError extends RegistryError {
  constructor(message: string, init: RegistryErrorInit) {
    super(message, { code: 'AUTH_FAILED', ...init });
  }
}

/** The repository, manifest, tag, blob or upload does not exist (or is hidden from this user). */
export class NotFoundError extends RegistryError {
  constructor(message: string, init: RegistryErrorInit) {
    super(message, { code: 'NOT_FOUND', ...init });
  }
}

/** The registry kept answering 429 beyond the retry budget. */
export class RateLimitError extends RegistryError {
  constructor(message: string, init: RegistryErrorInit) {
    super(message, { code: 'RATE_LIMITED', ...init });
  }
}

/** No HTTP answer: unknown host, refused connection, TLS failure, timeout, reset. */
export class RegistryConnectionError extends RegistryError {
  constructor(message: string, init: RegistryErrorInit) {
    super(message, { code: 'CONNECTION_FAILED', ...init });
  }
}

/** What a request was about, for error messages: `manifest 127.0.0.1:5000/app:1`. */
export interface Subject {
  registry: string;
  repository?: string | undefined;
  /** Human description, e.g. `manifest 127.0.0.1:5000/app:1` or `blob sha256:ab… in 127.0.0.1:5000/app`. */
  what: string;
  /** The action needed, for denial messages: `pull`, `push`, `delete`. */
  action?: string | undefined;
}

/** Parse a distribution error body; tolerant of anything else (HTML, plain text, empty). */
export function parseErrorBody(text: string): RegistryErrorDetail[] {
  if (!text) return [];
  try {
    const body = JSON.parse(text) as { errors?: unknown; details?: unknown };
    if (Array.isArray(body.errors)) {
      return body.errors
        .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
        .map((e) => ({
          code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
          ...(typeof e.message === 'string' ? { message: e.message } : {}),
          ...(e.detail !== undefined ? { detail: e.detail } : {}),
        }));
    }
  } catch {
    // not JSON: fall through
  }
  return [];
}

const NOT_FOUND_CODES = new Set(['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN', 'BLOB_UPLOAD_UNKNOWN']);

export interface ResponseContext {
  /** Credentials (not just an anonymous token) went with the request. */
  credentials: boolean;
  /** The registry refused the credentials themselves (Basic answered 401), not a permission. */
  rejected?: boolean | undefined;
  user?: string | undefined;
  retryAfter?: string | undefined;
}

/** Build the typed error for an HTTP error response. */
export function errorForResponse(
  status: number,
  errors: RegistryErrorDetail[],
  subject: Subject,
  context: ResponseContext,
): RegistryError {
  const codes = errors.map((e) => e.code);
  const init = { status, errors, registry: subject.registry };
  const reason = describeCodes(errors) ?? `HTTP ${status}`;
  const login = `run pd login ${subject.registry}`;

  if (status === 401 || status === 403 || codes.includes('DENIED') || codes.includes('UNAUTHORIZED')) {
    if (context.rejected) return credentialsRejected(subject.what, subject.registry, context.user, init);
    if (!context.credentials) {
      return new AuthError(`${subject.what}: authentication required (${reason})`, {
        ...init,
        hint: `the registry needs credentials for this; ${login}`,
      });
    }
    return new AuthError(
      `${subject.what}: access denied${subject.action ? ` (${subject.action})` : ''} (${reason})`,
      {
        ...init,
        hint: `the account${context.user ? ` "${context.user}"` : ''} lacks ${subject.action ?? 'the'} permission on ${subject.repository ?? 'this resource'}, or it does not exist; ${login} with an account that has it`,
      },
    );
  }
  if (status === 404 || codes.some((c) => NOT_FOUND_CODES.has(c))) {
    return new NotFoundError(`${subject.what} not found (${reason})`, {
      ...init,
      hint: notFoundHint(codes, subject, context.credentials),
    });
  }
  if (status === 429 || codes.includes('TOOMANYREQUESTS')) {
    return new RateLimitError(`${subject.what}: too many requests to ${subject.registry}`, {
      ...init,
      hint: `the registry rate-limits this client${context.retryAfter ? ` (Retry-After: ${truncate(context.retryAfter, 40)})` : ''}; wait and retry${context.credentials ? '' : `, or ${login} for a higher limit`}`,
    });
  }
  if (status >= 500) {
    return new RegistryError(`${subject.what}: ${subject.registry} failed with HTTP ${status} (${reason})`, {
      ...init,
      hint: 'a server-side error that persisted through retries; try again later',
    });
  }
  return new RegistryError(`${subject.what}: ${reason}`, init);
}

/** The registry or its token server refused the username/password or token. */
export function credentialsRejected(
  what: string,
  registry: string,
  user: string | undefined,
  init: Partial<RegistryErrorInit> = {},
): AuthError {
  return new AuthError(`${what}: ${registry} rejected the credentials${user ? ` of "${user}"` : ''}`, {
    ...init,
    registry,
    hint: `check the username and password or token; run pd login ${registry}`,
  });
}

function notFoundHint(codes: string[], subject: Subject, authenticated: boolean): string {
  const loginHint = authenticated
    ? ''
    : `; private repositories look missing without credentials: run pd login ${subject.registry}`;
  if (codes.includes('NAME_UNKNOWN')) return `check the repository name${loginHint}`;
  if (codes.includes('MANIFEST_UNKNOWN')) return `check the tag or digest${loginHint}`;
  if (codes.includes('BLOB_UNKNOWN')) return 'the registry does not hold this blob in this repository';
  if (codes.includes('BLOB_UPLOAD_UNKNOWN')) return 'the upload session expired or was cancelled';
  return `check the name${loginHint}`;
}

function describeCodes(errors: RegistryErrorDetail[]): string | undefined {
  if (errors.length === 0) return undefined;
  return errors
    .slice(0, 3)
    .map((e) => (e.message ? `${e.code}: ${truncate(oneLine(e.message), 160)}` : e.code))
    .join('; ');
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

const TLS_CODES =
  /^(?:ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|ERR_OSSL)/;

/** The error code of a Node or undici network error, looking through `cause` wrappers. */
export function networkErrorCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur && typeof cur === 'object'; i++) {
    const code = (cur as { code?: unknown }).code;
    // pd's own errors carry pd codes; the network code is in their cause.
    if (!(cur instanceof PdError) && typeof code === 'string' && code !== 'UND_ERR' && code.length > 0)
      return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isTlsErrorCode(code: string | undefined): boolean {
  return code !== undefined && TLS_CODES.test(code);
}

/**
 * The bytes being uploaded could not be read (a file vanished, the stream from another registry
 * failed). Raised as-is, never as a connection problem with the target registry.
 */
export class UploadSourceError extends PdError {
  constructor(what: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`cannot read ${what} to upload: ${why}`, {
      code: 'UPLOAD_SOURCE_FAILED',
      hint: 'the source of the blob failed, not the registry it was going to',
      cause,
    });
  }
}

/** Map a failure without HTTP answer to a one-line message naming the host and the cause. */
export function connectionError(
  e: unknown,
  host: string,
  registry: string,
  timeouts?: { headers: number; body: number },
): RegistryConnectionError {
  const code = networkErrorCode(e);
  const init = { registry, cause: e };
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new RegistryConnectionError(`cannot resolve registry host ${host}`, {
        ...init,
        hint: 'check the registry name, your DNS and network',
      });
    case 'ECONNREFUSED':
      return new RegistryConnectionError(`connection refused by ${host}`, {
        ...init,
        hint: 'is the registry running and listening on this port?',
      });
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new RegistryConnectionError(`connecting to ${host} timed out`, {
        ...init,
        hint: 'the host does not answer; check the network, a proxy or a firewall',
      });
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'HEADERS_TIMEOUT':
    case 'BODY_TIMEOUT': {
      const ms = code.includes('HEADERS') ? timeouts?.headers : timeouts?.body;
      return new RegistryConnectionError(
        `${host} stopped answering${ms ? ` for ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}` : ''}`,
        { ...init, hint: 'the registry or the network stalled; retry, or raise the timeout' },
      );
    }
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return new RegistryConnectionError(`connection to ${host} was reset`, {
        ...init,
        hint: 'the registry or a proxy closed the connection repeatedly; try again later',
      });
  }
  if (isTlsErrorCode(code) || /\bSSL\b|TLS|certificate/i.test(String((e as Error)?.message ?? ''))) {
    return new RegistryConnectionError(`TLS handshake with ${host} failed (${code ?? 'TLS error'})`, {
      ...init,
      hint: answeredInPlainHttp(e)
        ? 'the registry seems to speak plain HTTP; if you trust the network, mark it insecure'
        : 'the certificate is not trusted for this host; install its CA (NODE_EXTRA_CA_CERTS) or, for a test registry, mark it insecure',
    });
  }
  return new RegistryConnectionError(`cannot reach ${host}${code ? ` (${code})` : ''}`, {
    ...init,
    hint: 'check the network and the registry address',
  });
}

/** True for a TLS handshake that got plain HTTP back: the port speaks HTTP, not HTTPS. */
export function answeredInPlainHttp(e: unknown): boolean {
  const text = `${networkErrorCode(e) ?? ''} ${String((e as Error)?.message ?? '')}`;
  return /wrong version number|packet length too long|WRONG_VERSION/i.test(text);
}

/** True for the error an aborted AbortSignal produces (ours or undici's). */
export function isAbortError(e: unknown): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    ((e as { name?: unknown }).name === 'AbortError' || (e as { code?: unknown }).code === 'UND_ERR_ABORTED')
  );
}
