import { describe, expect, test } from 'vitest';
import {
  DEFAULT_RETRY,
  isRetryableError,
  isRetryableStatus,
  parseRetryAfter,
  RetryBudget,
  sleep,
} from './retry.js';

describe('retry policy', () => {
  test('Retry-After: delta seconds, HTTP date, garbage', () => {
    const now = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:27:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  test('which statuses and errors are retried', () => {
    expect([408, 429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 501, 505].some(isRetryableStatus)).toBe(false);
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(
      isRetryableError(
        new Error('wrapped', { cause: Object.assign(new Error(), { code: 'UND_ERR_SOCKET' }) }),
      ),
    ).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'CERT_HAS_EXPIRED' }))).toBe(false);
  });

  test('budget: bounded attempts, exponential backoff with jitter, capped Retry-After', () => {
    const b = new RetryBudget({
      ...DEFAULT_RETRY,
      attempts: 4,
      minDelay: 100,
      maxDelay: 300,
      maxRetryAfter: 1000,
    });
    const d1 = b.next();
    const d2 = b.next();
    expect(d1).toBeGreaterThanOrEqual(50);
    expect(d1).toBeLessThanOrEqual(100);
    expect(d2).toBeGreaterThanOrEqual(100);
    expect(d2).toBeLessThanOrEqual(200);
    expect(b.next(60_000)).toBe(1000);
    expect(b.next()).toBeUndefined();
  });

  test('budget: progress restarts the count; the deadline stops retries', () => {
    const b = new RetryBudget({ ...DEFAULT_RETRY, attempts: 2, minDelay: 1, maxDelay: 1 });
    expect(b.next()).toBeDefined();
    b.progress();
    expect(b.next()).toBeDefined();
    expect(b.next()).toBeUndefined();
    const late = new RetryBudget({ ...DEFAULT_RETRY, attempts: 100, deadline: 50 });
    expect(late.next(10)).toBe(10);
    expect(late.next(100)).toBeUndefined();
  });

  test('sleep rejects with the abort reason', async () => {
    const c = new AbortController();
    const p = sleep(10_000, c.signal);
    c.abort(new Error('cancelled'));
    await expect(p).rejects.toThrow('cancelled');
  });
});
