import { setMaxListeners } from 'node:events';

/** A signal shared by a group of concurrent jobs, and how to stop them all. */
export interface AbortGroup {
  readonly signal: AbortSignal;
  /** Abort every job of the group (the first failure stops the others). */
  abort(reason?: unknown): void;
}

/**
 * A signal for a group of concurrent jobs that aborts with `parent` or on `abort()`. Every job
 * adds listeners of its own (a request, a socket, a stream), so the signal may hold any number:
 * Node's warning past ten, meant to catch leaks, would only print noise on a user's terminal
 * (a copy of five layers between two registries showed it).
 */
export function abortGroup(parent?: AbortSignal): AbortGroup {
  const own = new AbortController();
  const signal = parent ? AbortSignal.any([parent, own.signal]) : own.signal;
  setMaxListeners(0, signal);
  return { signal, abort: (reason) => own.abort(reason) };
}
