import { describe, expect, test } from 'vitest';
import { abortGroup } from './abort-group.js';

describe('abortGroup', () => {
  test('aborts with its parent, or on abort() with the reason given', () => {
    const parent = new AbortController();
    const a = abortGroup(parent.signal);
    const b = abortGroup();
    expect(a.signal.aborted || b.signal.aborted).toBe(false);
    parent.abort(new Error('ctrl-c'));
    expect(a.signal.aborted).toBe(true);
    expect((a.signal.reason as Error).message).toBe('ctrl-c');
    const reason = new Error('a job failed');
    b.abort(reason);
    expect(b.signal.reason).toBe(reason);
    // abort() of a child leaves the parent alone.
    const p2 = new AbortController();
    abortGroup(p2.signal).abort();
    expect(p2.signal.aborted).toBe(false);
  });

  test('holds listeners of many jobs without a leak warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const group = abortGroup(new AbortController().signal);
      for (let i = 0; i < 50; i++) group.signal.addEventListener('abort', () => {});
      // Warnings are emitted on a later tick.
      await new Promise((r) => setTimeout(r, 10));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
      // The check sees them where a plain signal would warn.
      const plain = new AbortController().signal;
      for (let i = 0; i < 11; i++) plain.addEventListener('abort', () => {});
      await new Promise((r) => setTimeout(r, 10));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toHaveLength(1);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
