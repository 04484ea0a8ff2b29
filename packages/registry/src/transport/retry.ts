import { networkErrorCode } from '../errors.js';

/** How failed requests and interrupted transfers are retried: attempts, backoff and deadline. */
export interface RetryOptions {
  /** Tries per request, the first included (default 5). */
  attempts?: number;
  /** First backoff delay in ms; doubles per retry, with jitter (default 250). */
  minDelay?: number;
  /** Largest backoff delay in ms (default 10 000). */
  maxDelay?: number;
  /** Cap on a server's Retry-After in ms (default 60 000): longer waits are cut to this. */
  maxRetryAfter?: number;
  /**
   * Overall deadline in ms (default 300 000): no retry starts later than this after the call
   * began, or, for a transfer, after its last byte of progress.
   */
  deadline?: number;
}

export type RetryPolicy = Required<RetryOptions>;

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  minDelay: 250,
  maxDelay: 10_000,
  maxRetryAfter: 60_000,
  deadline: 300_000,
};

export function retryPolicy(options: RetryOptions | undefined): RetryPolicy {
  return { ...DEFAULT_RETRY, ...options };
}

/** Statuses worth retrying: overload, rate limit and gateway failures. 501 and 505 never heal. */
export function isRetryableStatus(status: number): boolean {
  return (
    status === 408 || status === 429 || status === 500 || status === 502 || status === 503 || status === 504
  );
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  // transport/node-http.ts's own
  'HEADERS_TIMEOUT',
  'BODY_TIMEOUT',
]);

/**
 * Network failures that a new attempt may cure. Refused connections, unknown hosts and TLS
 * failures are not retried: they are configuration problems and the user should hear at once.
 */
export function isRetryableError(e: unknown): boolean {
  const code = networkErrorCode(e);
  return code !== undefined && RETRYABLE_CODES.has(code);
}

/** Parse Retry-After (delta seconds or an HTTP date) into ms from `now`; undefined when absent or bad. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // An HTTP date names its month; Date.parse would also take "-5" or "2" as a year.
  if (!/[A-Za-z]{3}/.test(v)) return undefined;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * Attempt counter and deadline for one call. `progress()` (a transfer moved bytes) restarts
 * both, so a long download survives many unrelated resets while a dead one still gives up.
 */
export class RetryBudget {
  private failures = 0;
  private started = Date.now();

  constructor(readonly policy: RetryPolicy) {}

  progress(): void {
    this.failures = 0;
    this.started = Date.now();
  }

  get attempt(): number {
    return this.failures + 1;
  }

  /**
   * Record a failure and return how long to wait before the next attempt, or undefined when the
   * budget is spent. `retryAfter` (ms, from the server) replaces the backoff, capped.
   */
  next(retryAfter?: number): number | undefined {
    this.failures++;
    if (this.failures >= this.policy.attempts) return undefined;
    const backoff = Math.min(this.policy.maxDelay, this.policy.minDelay * 2 ** (this.failures - 1));
    // Jitter spreads clients that failed together so they do not retry in lockstep.
    let delay = backoff / 2 + Math.random() * (backoff / 2);
    if (retryAfter !== undefined) delay = Math.min(retryAfter, this.policy.maxRetryAfter);
    if (Date.now() + delay - this.started > this.policy.deadline) return undefined;
    return delay;
  }
}

/** Resolve after `ms`, or reject with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
