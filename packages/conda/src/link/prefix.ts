import { PrefixTooLongError } from '../errors.js';

/** The placeholder of `has_prefix` lines that name none (old conda-build). */
export const LEGACY_PLACEHOLDER = '/opt/anaconda1anaconda2anaconda3';

function indexOfAll(data: Buffer, needle: Buffer): number[] {
  const out: number[] = [];
  for (let at = data.indexOf(needle); at >= 0; at = data.indexOf(needle, at + needle.length)) out.push(at);
  return out;
}

/** Text files: every occurrence of the placeholder becomes the prefix (the file may change length). */
export function replaceTextPrefix(data: Buffer, placeholder: string, prefix: string): Buffer {
  const from = Buffer.from(placeholder);
  const hits = indexOfAll(data, from);
  if (hits.length === 0) return data;
  const to = Buffer.from(prefix);
  const parts: Buffer[] = [];
  let last = 0;
  for (const at of hits) {
    parts.push(data.subarray(last, at), to);
    last = at + from.length;
  }
  parts.push(data.subarray(last));
  return Buffer.concat(parts);
}

/**
 * Binary files: the placeholder sits in NUL-terminated C strings whose offsets must not move. In
 * each such string every placeholder is replaced and the string is padded with NULs back to its
 * old length, so the file keeps its size and layout. A prefix longer than the placeholder cannot
 * fit and is refused.
 */
export function replaceBinaryPrefix(data: Buffer, placeholder: string, prefix: string, path = ''): Buffer {
  const from = Buffer.from(placeholder);
  const to = Buffer.from(prefix);
  if (to.length > from.length) throw new PrefixTooLongError(prefix, placeholder, path);
  let at = data.indexOf(from);
  if (at < 0) return data;
  const out = Buffer.from(data);
  while (at >= 0) {
    let end = out.indexOf(0, at);
    if (end < 0) end = out.length;
    const segment = out.subarray(at, end);
    const replaced = replaceTextPrefix(Buffer.from(segment), placeholder, prefix);
    replaced.copy(out, at);
    out.fill(0, at + replaced.length, end);
    at = out.indexOf(from, end);
  }
  return out;
}

export interface PrefixFile {
  path: string;
  placeholder: string;
  mode: 'text' | 'binary';
}

/** Parse `info/has_prefix`: `placeholder mode path` lines (fields may be quoted), or a bare path (legacy, text). */
export function parseHasPrefix(text: string): PrefixFile[] {
  const out: PrefixFile[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const fields: string[] = [];
    const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
    for (let m = re.exec(line); m; m = re.exec(line)) fields.push(m[1] ?? m[2] ?? m[3]!);
    if (fields.length === 1) out.push({ path: fields[0]!, placeholder: LEGACY_PLACEHOLDER, mode: 'text' });
    else if (fields.length >= 3) {
      out.push({
        placeholder: fields[0]!,
        mode: fields[1] === 'binary' ? 'binary' : 'text',
        path: fields.slice(2).join(' '),
      });
    }
  }
  return out;
}
