// Free page reporting (virtio-balloon) hands guest memory that stays free back to the host, in
// blocks of 2^page_reporting_order pages, about two seconds after it was freed. The host drops it;
// the next write into such a page faults on the host, a cost the guest sees as a slow copy.
// Measured on the bench machine (a VM reporting at order 9, i.e. 2 MiB blocks): 1 GB written into
// the page cache by dd took 0.14 s of system time right after 1 GB of files was deleted, 1.4-1.8 s
// when it waited 5 s first, 0.15-0.19 s after 5 s with reporting off. Every bench side deletes its
// outputs after its run, so how much of the next run's page cache lands on dropped memory depends
// on how long that run takes after the free, not on what it does: the same pd pull of 1080 MB took
// 1.3 s or 2.4 s (`copy_folio_from_iter_atomic` 20x the samples), and slower runs met more dropped
// memory. The harness turns reporting off while it measures (root only) and puts the order back
// after.
//
// Turning reporting off keeps the host from taking more, not what it took before the harness
// started: on a machine up for hours most free memory has been reported, and the first side to
// write into it pays for it (2 GB of large-pull blobs: pd 3.69 s and 2.82 s in the first two
// rounds, then 1.45-1.69 s; writing 8 GB into tmpfs once took 15 s of system time). So the
// harness then touches the free memory once, in a child process that exits (freeing it), before
// any side runs: after that the large pull's warm-up took 1.44 s like its rounds.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const ORDER = '/sys/module/page_reporting/parameters/page_reporting_order';

/** One more than the largest buddy order (/proc/buddyinfo's columns): no free block reaches it. */
function unreachableOrder() {
  const line = readFileSync('/proc/buddyinfo', 'utf8')
    .split('\n')
    .find((l) => l.includes('zone'));
  return line ? line.trim().split(/\s+/).length - 4 : 11;
}

/**
 * Turn free page reporting off until `restore()` (also on exit and on SIGINT/SIGTERM).
 * Returns what the results should say about it.
 */
export function holdPageReporting({ keep = false } = {}) {
  if (!existsSync(ORDER)) return { state: 'no free page reporting', restore() {} };
  const was = readFileSync(ORDER, 'utf8').trim();
  if (keep)
    return { state: `free page reporting left on (order ${was}, --keep-page-reporting)`, restore() {} };
  const off = String(unreachableOrder());
  try {
    writeFileSync(ORDER, off);
  } catch (e) {
    return { state: `free page reporting left on (order ${was}: ${e.code ?? e.message})`, restore() {} };
  }
  const touched = touchFreeMemory();
  let held = true;
  const restore = () => {
    if (!held) return;
    held = false;
    writeFileSync(ORDER, was);
  };
  const onSignal = (signal) => {
    restore();
    process.kill(process.pid, signal);
  };
  process.once('exit', restore);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    state: `free page reporting off while measuring (order ${was} → ${off}, restored after; ${touched})`,
    restore,
  };
}

/** The most memory touched ahead: what the large cases write per side, with room to spare. */
const TOUCH_LIMIT = 8 * 2 ** 30;
const TOUCH_SPARE = 2 * 2 ** 30;

/**
 * Write once into free memory (up to TOUCH_LIMIT, leaving TOUCH_SPARE), so that pages the host
 * dropped come back before any side is timed. Says what it did, for the results.
 */
function touchFreeMemory() {
  const available =
    Number(/MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) * 1024;
  const bytes = Math.min(TOUCH_LIMIT, available - TOUCH_SPARE);
  if (bytes <= 0) return 'free memory not touched ahead (too little)';
  const piece = 1 << 28;
  const started = performance.now();
  const script = `const kept = []; for (let i = 0; i < ${Math.floor(bytes / piece)}; i++) kept.push(Buffer.allocUnsafeSlow(${piece}).fill(1));`;
  const r = spawnSync(process.execPath, ['-e', script], { stdio: 'inherit' });
  const s = ((performance.now() - started) / 1000).toFixed(1);
  return r.status === 0
    ? `${(bytes / 2 ** 30).toFixed(1)} GiB of free memory touched once before measuring (${s} s)`
    : `touching free memory ahead failed (${r.status ?? r.signal})`;
}
