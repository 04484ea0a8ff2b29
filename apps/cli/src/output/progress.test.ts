import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration } from './format.js';
import { ProgressRenderer, progressMode, renderTask, type Task } from './progress.js';

function task(over: Partial<Task>): Task {
  return {
    id: 'sha256:abc',
    label: 'layer 1/3',
    phase: 'pull',
    done: 0,
    total: undefined,
    samples: [],
    finished: false,
    ...over,
  };
}

describe('progressMode', () => {
  it('bars only on a terminal, lines with --verbose elsewhere, nothing with -q or in CI by default', () => {
    const env = {};
    expect(progressMode({ isTTY: true, quiet: false, verbose: false, env })).toBe('bars');
    expect(progressMode({ isTTY: true, quiet: true, verbose: false, env })).toBe('off');
    expect(progressMode({ isTTY: false, quiet: false, verbose: false, env })).toBe('off');
    expect(progressMode({ isTTY: false, quiet: false, verbose: true, env })).toBe('lines');
    expect(progressMode({ isTTY: true, quiet: false, verbose: false, env: { CI: 'true' } })).toBe('off');
    expect(progressMode({ isTTY: true, quiet: false, verbose: false, env: { TERM: 'dumb' } })).toBe('off');
  });
});

describe('renderTask', () => {
  it('shows bytes, a bar, the rate and the ETA, within the width', () => {
    const t = task({
      done: 5_000_000,
      total: 20_000_000,
      samples: [
        [0, 0],
        [1000, 5_000_000],
      ],
    });
    const line = renderTask(t, 100);
    expect(line.length).toBeLessThanOrEqual(100);
    expect(line).toContain('layer 1/3');
    expect(line).toContain('5.00 MB / 20.0 MB');
    expect(line).toContain('5.00 MB/s');
    expect(line).toContain('ETA 3s');
    expect(line).toMatch(/\[=+> +\]/);
  });

  it('without a total: bytes and rate only; finished: the size', () => {
    expect(renderTask(task({ done: 1234 }), 80)).toMatch(/layer 1\/3 +pull +1.23 kB$/);
    expect(renderTask(task({ done: 10, total: 10, finished: true }), 80)).toMatch(/layer 1\/3 +done +10 B$/);
  });

  it('fits narrow terminals by dropping the bar', () => {
    const line = renderTask(task({ done: 1, total: 2 }), 40);
    expect(line.length).toBeLessThanOrEqual(40);
    expect(line).not.toContain('[');
  });
});

describe('ProgressRenderer', () => {
  function sink() {
    const out: string[] = [];
    return { out, stream: { write: (s: string) => out.push(s), columns: 100 } };
  }

  it('lines mode: plain lines at start, phase change and completion, no escape codes', () => {
    const { out, stream } = sink();
    let now = 0;
    const r = new ProgressRenderer(stream, 'lines', () => now);
    r.update({ id: 'a', label: 'layer 1', done: 0, total: 100, phase: 'pull' });
    for (let i = 1; i <= 100; i++) {
      now += 10;
      r.update({ id: 'a', done: i, total: 100, phase: 'pull' });
    }
    r.update({ id: 'b', label: 'config', done: 5, phase: 'push' });
    r.finishTask('b');
    r.stop();
    expect(out.join('')).toBe(
      'pd: layer 1: pull (100 B)\npd: layer 1: done (100 B)\npd: config: push\npd: config: done (5 B)\n',
    );
    expect(out.join('')).not.toMatch(/\x1b/);
  });

  it('bars mode: redraws in place, at most every 100 ms, and keeps messages above the bars', () => {
    const { out, stream } = sink();
    const r = new ProgressRenderer(stream, 'bars');
    r.update({ id: 'a', label: 'one', done: 1, total: 10 });
    r.update({ id: 'b', label: 'two', done: 1, total: 10 });
    r.update({ id: 'a', label: 'one', done: 5, total: 10 });
    // The first event draws at once; the rest wait for the timer.
    expect(out).toHaveLength(1);
    r.message('hello');
    r.stop();
    const text = out.join('');
    expect(text).toContain('\x1b[1F\x1b[J' + 'hello\n');
    // The last frame moves up over the two bars it replaces.
    expect(out[out.length - 1]).toMatch(/^\x1b\[2F\x1b\[2Kone .*\n\x1b\[2Ktwo .*\n$/);
  });

  it('abandon (Ctrl-C) erases the drawn bars and draws nothing more', () => {
    const { out, stream } = sink();
    const r = new ProgressRenderer(stream, 'bars');
    r.update({ id: 'a', label: 'one', done: 1, total: 10 });
    r.update({ id: 'b', label: 'two', done: 1, total: 10 });
    r.stop(); // draws both bars
    const before = out.length;
    r.abandon();
    expect(out.slice(before)).toEqual(['\x1b[2F\x1b[J']);
    r.stop();
    expect(out).toHaveLength(before + 1);
  });

  it('off: writes nothing', () => {
    const { out, stream } = sink();
    const r = new ProgressRenderer(stream, 'off');
    r.update({ id: 'a', done: 1, total: 2 });
    r.stop();
    expect(out).toEqual([]);
  });
});

describe('formatting', () => {
  it('bytes in decimal units and durations', () => {
    expect([0, 999, 1000, 12_345_678, 4e12].map(formatBytes)).toEqual([
      '0 B',
      '999 B',
      '1.00 kB',
      '12.3 MB',
      '4.00 TB',
    ]);
    expect([5, 65, 3725].map(formatDuration)).toEqual(['5s', '1m05s', '1h02m']);
  });
});
