import { TarFormatError } from './errors.js';

/** One PAX extended-header record: key and raw value bytes. */
export interface PaxRecord {
  key: string;
  value: Buffer;
}

/**
 * Encode records as `"<len> <key>=<value>\n"`, sorted by key bytes so that the same entry
 * always gets the same bytes whatever order the caller built them in.
 */
export function encodePax(records: PaxRecord[]): Buffer {
  const sorted = [...records].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  const parts: Buffer[] = [];
  for (const { key, value } of sorted) {
    const keyBytes = Buffer.from(key, 'utf8');
    // The length prefix counts its own digits, so grow it until it is self-consistent.
    const rest = keyBytes.length + value.length + 3;
    let len = rest + String(rest).length;
    if (String(len).length !== String(len - rest).length) len = rest + String(len).length;
    parts.push(Buffer.from(`${len} `), keyBytes, Buffer.from('='), value, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** Decode a PAX body. Later duplicates win, as in POSIX. */
export function decodePax(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < body.length) {
    // Some writers pad the body with NULs.
    if (body[pos] === 0) break;
    const space = body.indexOf(0x20, pos);
    if (space < 0) throw new TarFormatError('malformed PAX record: no length');
    const lenText = body.toString('latin1', pos, space);
    if (!/^[0-9]{1,9}$/.test(lenText)) throw new TarFormatError(`malformed PAX record length "${lenText}"`);
    const len = Number(lenText);
    const end = pos + len;
    if (len < 5 || end > body.length || body[end - 1] !== 0x0a) {
      throw new TarFormatError('malformed PAX record: length does not match');
    }
    const eq = body.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end) throw new TarFormatError('malformed PAX record: no "="');
    const key = body.toString('utf8', space + 1, eq);
    // A copy: the body may be a slice of a lent chunk (FileSlice), and global records outlive it.
    out.set(key, Buffer.from(body.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return out;
}
