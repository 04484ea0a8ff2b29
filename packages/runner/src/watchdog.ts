import { spawn } from 'node:child_process';

/**
 * A container must not outlive the `pd run` in charge of it. The runtime would: runc's foreground
 * `run` has no parent-death signal (and the container's init survives runc anyway), and the
 * docker CLI killed leaves its container running in the engine. So beside the runtime runs a
 * watchdog: a /bin/sh blocked reading a pipe whose only writer is pd. pd writes `done` when it
 * has finished with the container; if pd dies first (SIGKILL, OOM), the kernel closes the pipe,
 * the read sees end-of-file, and the watchdog runs `cleanup` (a forced delete of the container),
 * then removes `removeDir` (the bundle of an `rm` run). It is a session of its own, so the
 * terminal's signals and a kill of pd's process group do not take it down with pd. A parent-death
 * signal on the runtime (`setpriv --pdeathsig`) would kill the runtime alone, not the container.
 * Cost: one /bin/sh (about a millisecond of CPU), started beside the runtime.
 */
export function startWatchdog(
  cleanup: readonly string[],
  options: { removeDir?: string; env?: NodeJS.ProcessEnv } = {},
): { release(): void } {
  const script = [
    'IFS= read -r word',
    '[ "$word" = done ] && exit 0',
    'dir=$1',
    'shift',
    '"$@" >/dev/null 2>&1',
    '[ -n "$dir" ] && rm -rf -- "$dir"',
    'exit 0',
  ].join('\n');
  const child = spawn('/bin/sh', ['-c', script, 'pd-watchdog', options.removeDir ?? '', ...cleanup], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
    ...(options.env ? { env: options.env } : {}),
  });
  child.on('error', () => {}); // no /bin/sh: runs are not worse off than without a watchdog
  child.stdin!.on('error', () => {});
  // Neither the process nor the pipe keeps pd's event loop alive.
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      child.stdin!.end('done\n');
    },
  };
}
