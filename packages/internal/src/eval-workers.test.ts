import { describe, expect, test } from 'vitest';
import { EvalWorkers } from './eval-workers.js';

// A worker that echoes `n * 2` (after `delay` ms), answers `{ error }` for `fail`, and exits for `exit`.
const SOURCE = `
const { parentPort, threadId } = require('node:worker_threads');
parentPort.on('message', (m) => {
  if (m.op === 'exit') process.exit(3);
  if (m.op === 'fail') return parentPort.postMessage({ id: m.id, error: 'told to fail' });
  if (m.op === 'note') return;
  setTimeout(() => parentPort.postMessage({ id: m.id, n: m.n * 2, thread: threadId }), m.delay || 0);
});
`;

const failure = (message: string) => new Error(`test worker: ${message}`);

describe('EvalWorkers', () => {
  test('answers come back to their calls; busy workers make new ones up to the size, then share', async () => {
    const workers = new EvalWorkers(SOURCE, { size: 2, failure });
    const slots = [0, 1, 2, 3].map(() => workers.pick());
    // Nothing is loaded yet, so the first worker is picked again until a call loads it.
    expect(new Set(slots).size).toBe(1);
    const a = workers.pick();
    const first = workers.call(a, { n: 1, delay: 50 });
    const b = workers.pick();
    expect(b).not.toBe(a);
    const second = workers.call(b, { n: 2, delay: 10 });
    const c = workers.pick();
    expect(workers.running).toBe(2);
    const third = workers.call(c, { n: 3 });
    const replies = await Promise.all([first, second, third]);
    expect(replies.map((r) => r.n)).toEqual([2, 4, 6]);
    expect(new Set(replies.map((r) => r.thread)).size).toBe(2);
    expect([a.load, b.load]).toEqual([0, 0]);
    await Promise.all([a, b].map((s) => s.worker.terminate()));
  });

  test('an { error } answer rejects with the failure; a hold makes the next job go elsewhere', async () => {
    const workers = new EvalWorkers(SOURCE, { size: 2, failure });
    const a = workers.pick();
    await expect(workers.call(a, { op: 'fail' })).rejects.toThrow('test worker: told to fail');
    workers.hold(a);
    const b = workers.pick();
    expect(b).not.toBe(a);
    workers.post(b, { op: 'note' });
    expect((await workers.call(b, { n: 5 })).n).toBe(10);
    workers.release(a);
    expect(a.load).toBe(0);
    await Promise.all([a, b].map((s) => s.worker.terminate()));
  });

  test('a worker that exits fails the calls it owed, later calls at once; the next job starts another', async () => {
    const workers = new EvalWorkers(SOURCE, { size: 1, failure });
    const a = workers.pick();
    const owed = workers.call(a, { n: 1, delay: 1000 });
    workers.post(a, { op: 'exit' });
    await expect(owed).rejects.toThrow('test worker: worker exited (code 3)');
    expect(a.dead).toBe(true);
    expect(workers.running).toBe(0);
    await expect(workers.call(a, { n: 1 })).rejects.toThrow('test worker: worker exited');
    const b = workers.pick();
    expect(b).not.toBe(a);
    expect((await workers.call(b, { n: 4 })).n).toBe(8);
    await b.worker.terminate();
  });
});
