import { sourceDateEpoch } from '@pd/oci-types';

/** When a mutation happened: a date, RFC 3339 text, seconds since the epoch, or 'now'. */
export type CreatedOption = Date | string | number | 'now';

function rfc3339(d: Date): string {
  // Whole seconds print as docker does (no ".000").
  return d.toISOString().replace('.000Z', 'Z');
}

/**
 * The `created` timestamp for configs and history entries: the given one, else
 * SOURCE_DATE_EPOCH when set (reproducible builds: same inputs, same digest), else now.
 */
export function createdTimestamp(opt?: CreatedOption): string {
  if (opt === 'now') return rfc3339(new Date());
  if (opt instanceof Date) return rfc3339(opt);
  if (typeof opt === 'number') return rfc3339(new Date(opt * 1000));
  if (typeof opt === 'string') {
    const d = new Date(opt);
    if (Number.isNaN(d.getTime())) throw new RangeError(`invalid created time "${opt}"`);
    return opt;
  }
  const epoch = sourceDateEpoch();
  return rfc3339(epoch === undefined ? new Date() : new Date(epoch * 1000));
}
