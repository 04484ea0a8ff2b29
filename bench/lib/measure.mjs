// Time and peak memory of one command, and of several commands run alternately.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Run `argv` under GNU time and return wall milliseconds (our own clock, finer than %e) and the
 * peak RSS in MiB. GNU time reports the wait4() rusage of its child: for `sh -c 'a | b'` that is
 * the largest RSS of any process of the pipeline, not their sum.
 */
export async function measure(argv, { env = process.env, cwd, timeoutMs = 30 * 60_000 } = {}) {
  if (!existsSync(GNU_TIME)) throw new Error(`${GNU_TIME} is missing (apt-get install time)`);
  const dir = await mkdtemp(join(tmpdir(), 'pd-bench-time-'));
  const out = join(dir, 'time');
  try {
    const t0 = performance.now();
    const { code, signal, stderr } = await spawnCollect(GNU_TIME, ['-f', '%e %M', '-o', out, '--', ...argv], {
      env,
      cwd,
      timeoutMs,
    });
    const ms = performance.now() - t0;
    if (code !== 0) {
      const why = signal ? `killed by ${signal}` : `exit ${code}`;
      throw new Error(`${argv.join(' ')}: ${why}\n${stderr.slice(-2000)}`);
    }
    // The last line: GNU time may print "Command exited with non-zero status" above it.
    const last = (await readFile(out, 'utf8')).trim().split('\n').at(-1) ?? '';
    const [, kb] = last.split(' ');
    return { ms, peakRssMB: Number(kb) / 1024, stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function spawnCollect(cmd, args, { env = process.env, cwd, timeoutMs = 30 * 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    // Keep only the tails: a command that prints a lot must not grow the harness's memory.
    child.stdout.on('data', (d) => {
      stdout = (stdout + d).slice(-64_000);
    });
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-64_000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `sync`: write dirty pages back to disk and wait for it. */
function syncDisks() {
  return new Promise((resolve) => {
    const child = spawn('sync', [], { stdio: 'ignore' });
    child.on('error', () => resolve());
    child.on('close', () => resolve());
  });
}

/**
 * Run every side `iterations` times, rotating the order each round so no side always runs first
 * (with the page cache warmed by the one before it). `warmups` rounds run first and are not
 * counted. Before each run, `sync` flushes what earlier runs left in the page cache. A side is
 * `{ prepare(round) → { argv, env?, cwd?, after?(result) } }`: prepare makes
 * fresh outputs and caches for the round, `after` checks or measures the result and cleans up
 * (it may return extra numbers, kept per run).
 */
export async function alternate(sides, { iterations, warmups = 1, log = () => {} }) {
  const names = Object.keys(sides);
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = -warmups; round < iterations; round++) {
    const k = round + warmups;
    const order = names.map((_, j) => names[(j + k) % names.length]);
    const line = [];
    for (const name of order) {
      const job = await sides[name].prepare(round);
      // Dirty pages left by the run before (outputs written without fsync, by pd and peers
      // alike) are written back now, outside the timing, not during the next run.
      await syncDisks();
      const r = await measure(job.argv, { env: job.env, cwd: job.cwd });
      const extra = (await job.after?.(r)) ?? {};
      if (round >= 0) runs[name].push({ ms: r.ms, peakRssMB: r.peakRssMB, ...extra });
      line.push(`${name} ${(r.ms / 1000).toFixed(2)}s ${r.peakRssMB.toFixed(0)}MB`);
    }
    log(`  ${round < 0 ? 'warm-up' : `run ${round + 1}/${iterations}`}: ${line.join(', ')}`);
  }
  // Each summary keeps its side's prepare (not enumerable: results stay plain JSON), so the
  // harness can run the same job again under the profiler.
  return Object.fromEntries(
    names.map((n) => [n, Object.defineProperty(summarize(runs[n]), 'prepare', { value: sides[n].prepare })]),
  );
}

/** Median time; peak RSS is the largest of the measured runs. */
export function summarize(runs) {
  return {
    medianMs: median(runs.map((r) => r.ms)),
    peakRssMB: Math.max(...runs.map((r) => r.peakRssMB)),
    runs,
  };
}
