import { sourceDateEpoch } from '@pd/oci-types';
import type { TarHeader } from './header.js';
import { type Owner, ROOT_OWNER } from './plan.js';

/** Progress of a long operation, as every pd package reports it. */
export interface ProgressEvent {
  id: string;
  label?: string;
  done: number;
  total?: number;
  phase?: string;
}

/**
 * Decides about one entry before it is written: keep, drop or rewrite it. `false` drops it (a
 * dropped directory drops its whole subtree), a header replaces it (rename, chmod, chown...),
 * `true`/`undefined` keeps it. `source` is the host path the entry comes from, when there is one.
 */
export type TarFilter = (header: TarHeader, source: string | undefined) => TarHeader | boolean | undefined;

/** Options of `tarDirectory`, `tarPaths` and `tarContents`. */
export interface TarOptions {
  /** Destination directory inside the layer that everything is placed under, e.g. `/app`. */
  prefix?: string;
  /** Drops or rewrites entries before they are written. */
  filter?: TarFilter;
  /**
   * Modification time written for every entry, in seconds. Default: `SOURCE_DATE_EPOCH` when
   * set, else 0. `'keep'` keeps each file's own mtime (whole seconds).
   */
  mtime?: number | 'keep';
  /** Owner written for every entry. Default root (0/0) with empty names; `'keep'` keeps numeric ids. */
  owner?: 'keep' | Partial<Owner>;
  /** Aborts the tar: the stream fails with the signal's reason. */
  signal?: AbortSignal;
  /** Told the tar bytes produced so far (`phase: 'archive'`). */
  onProgress?: (e: ProgressEvent) => void;
}

export interface ResolvedTarOptions {
  prefix: string;
  filter: TarFilter | undefined;
  mtime: number | 'keep';
  /** Fixed time used for synthesized parents (and everything unless `mtime: 'keep'`). */
  epoch: number;
  owner: Owner | 'keep';
  defaultOwner: Owner;
  signal: AbortSignal | undefined;
}

export function resolveTarOptions(opts: TarOptions = {}): ResolvedTarOptions {
  const epoch = typeof opts.mtime === 'number' ? Math.floor(opts.mtime) : (sourceDateEpoch() ?? 0);
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`invalid mtime ${String(opts.mtime)}`);
  const owner = opts.owner === 'keep' ? 'keep' : { ...ROOT_OWNER, ...(opts.owner ?? {}) };
  return {
    prefix: opts.prefix ?? '',
    filter: opts.filter,
    mtime: opts.mtime === 'keep' ? 'keep' : epoch,
    epoch,
    owner,
    defaultOwner: owner === 'keep' ? ROOT_OWNER : owner,
    signal: opts.signal,
  };
}

/** Apply a filter; returns the (possibly rewritten) header or undefined to drop. */
export function runFilter(
  opts: ResolvedTarOptions,
  header: TarHeader,
  source: string | undefined,
): TarHeader | undefined {
  if (!opts.filter) return header;
  const r = opts.filter(header, source);
  if (r === false) return undefined;
  if (r === true || r === undefined) return header;
  return r;
}
