import { describe, expect, test } from 'vitest';
import { mapLimit } from './map-limit.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mapLimit', () => {
  test('keeps input order and never runs more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (x) => {
      most = Math.max(most, ++running);
      await tick(x);
      running--;
      return x * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });

  test('settle: rejects with the first error only after the work in flight has ended', async () => {
    const ended: number[] = [];
    let told: unknown;
    const p = mapLimit(
      [0, 1, 2, 3],
      3,
      async (i) => {
        if (i === 0) throw new Error('first');
        await tick(30);
        ended.push(i);
        if (i === 1) throw new Error('second');
      },
      { settle: true, onError: (e) => (told = e) },
    );
    await expect(p).rejects.toThrow('first');
    expect((told as Error).message).toBe('first');
    // 1 and 2 were in flight and ran to their end; 3 was never started.
    expect(ended.sort()).toEqual([1, 2]);
  });

  test('without settle: rejects at once', async () => {
    const ended: number[] = [];
    await expect(
      mapLimit([0, 1], 2, async (i) => {
        if (i === 0) throw new Error('now');
        await tick(30);
        ended.push(i);
      }),
    ).rejects.toThrow('now');
    expect(ended).toEqual([]);
  });
});
