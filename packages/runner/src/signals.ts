import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

/** Signals passed on to the container (through the runtime, which forwards what it receives). */
export const FORWARDED: readonly NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
];

export interface ForwardOptions {
  /** Also forward SIGWINCH (the runtime resizes the container's terminal). */
  tty: boolean;
  /** Seconds from the first SIGINT/SIGTERM to a forced kill. */
  stopTimeout: number;
  /** Kill the container outright (SIGKILL through the runtime). */
  forceKill: () => void;
  onSignal?: (signal: NodeJS.Signals) => void;
}

/**
 * Forward this process's signals to the runtime process. The container decides what SIGTERM
 * means; if it is still there `stopTimeout` seconds later (a PID 1 without a handler ignores
 * SIGTERM), or on a second SIGINT/SIGTERM, it is killed, so Ctrl-C always ends the container.
 * Returns the function that removes the handlers.
 */
export function forwardSignals(child: ChildProcess, opts: ForwardOptions): () => void {
  let stopTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  const handlers = new Map<NodeJS.Signals, () => void>();
  const add = (sig: NodeJS.Signals, fn: () => void) => {
    handlers.set(sig, fn);
    process.on(sig, fn);
  };
  for (const sig of FORWARDED) {
    add(sig, () => {
      opts.onSignal?.(sig);
      if (sig === 'SIGINT' || sig === 'SIGTERM') {
        if (stopping) {
          opts.forceKill();
          return;
        }
        stopping = true;
        stopTimer = setTimeout(opts.forceKill, opts.stopTimeout * 1000);
        stopTimer.unref();
      }
      child.kill(sig);
    });
  }
  if (opts.tty) add('SIGWINCH', () => child.kill('SIGWINCH'));
  return () => {
    if (stopTimer) clearTimeout(stopTimer);
    for (const [sig, fn] of handlers) process.off(sig, fn);
  };
}

/** `128 + n` back to the signal name, when n is a signal. */
export function signalOfExitCode(code: number): NodeJS.Signals | undefined {
  if (code <= 128 || code > 128 + 64) return undefined;
  const n = code - 128;
  return (Object.entries(constants.signals) as Array<[NodeJS.Signals, number]>).find(([, v]) => v === n)?.[0];
}

export function exitCodeOfSignal(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
