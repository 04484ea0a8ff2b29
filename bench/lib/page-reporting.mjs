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
    state: `free page reporting off while measuring (order ${was} → ${off}, restored after)`,
    restore,
  };
}
