const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** Decimal units, as docker and skopeo print sizes: `12.3 MB`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  let v = n;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${UNITS[u]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** `45s`, `3m05s`, `2h10m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `sha256:0123456789ab` */
export function shortDigest(d: string): string {
  const colon = d.indexOf(':');
  return colon === -1 ? d.slice(0, 12) : d.slice(0, colon + 13);
}

/** Fit `s` into `width` columns, cutting the middle (digests and paths keep both ends). */
export function fit(s: string, width: number): string {
  if (s.length <= width) return s.padEnd(width);
  if (width <= 1) return s.slice(0, width);
  const head = Math.ceil((width - 1) / 2);
  return `${s.slice(0, head)}…${s.slice(s.length - (width - 1 - head))}`;
}
