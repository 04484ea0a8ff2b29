import { describe, expect, test } from 'vitest';
import { Semaphore } from './semaphore.js';

describe('Semaphore', () => {
  test('never more than the limit at once, waiters served in order', async () => {
    const s = new Semaphore(2);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const release = await s.acquire();
        order.push(i);
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
        release();
      }),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(s.inUse).toBe(0);
  });

  test('an aborted waiter leaves the queue; a double release frees once', async () => {
    const s = new Semaphore(1);
    const release = await s.acquire();
    const c = new AbortController();
    const waiting = s.acquire(c.signal);
    c.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    release();
    release();
    expect(s.inUse).toBe(0);
    const again = await s.acquire();
    expect(s.inUse).toBe(1);
    again();
  });

  test('refuses a non-positive limit', () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
  });
});
