import { fstatSync, readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { readFileStream } from '@pd/tar/file-io';
import {
  ArchiveFormatError,
  CompressedArchiveError,
  MissingMemberError,
  TruncatedArchiveError,
  UnsafeMemberError,
} from './errors.js';

const BLOCK = 512;
/** PAX and GNU long-name records larger than this are refused instead of held in memory. */
const META_LIMIT = 1 << 20;
/** Symlink / hardlink hops followed before a member is declared a loop. */
const MAX_LINK_HOPS = 16;
/** Links, devices, directories and fifos. */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

/** The kind of a tar member (`other`: devices, fifos and the like). */
export type MemberType = 'file' | 'directory' | 'symlink' | 'link' | 'other';

/** One member of a tar file: where its data starts and how long it is. */
export interface TarMember {
  /** Normalized name: relative, no `./` prefix, no trailing slash. */
  name: string;
  type: MemberType;
  /** Byte offset of the member's data in the file. */
  offset: number;
  size: number;
  linkname: string;
}

export interface ReadMemberOptions {
  signal?: AbortSignal | undefined;
}

/**
 * Random access to the members of an uncompressed tar file without extracting it: the headers are
 * scanned once (bodies skipped by seeking), then members are served as byte ranges of the file.
 * Later members of the same name replace earlier ones, as when tar extracts.
 */
export class TarIndex {
  readonly path: string;
  private readonly members: Map<string, TarMember>;

  private constructor(path: string, members: Map<string, TarMember>) {
    this.path = path;
    this.members = members;
  }

  /** Scan the headers of `path`. Throws typed errors for compressed, truncated or non-tar files. */
  static async open(path: string, options: ReadMemberOptions = {}): Promise<TarIndex> {
    const fh = await open(path, 'r');
    try {
      return new TarIndex(path, scan(fh, path, options.signal));
    } finally {
      await fh.close();
    }
  }

  /** Every member name, in archive order of last appearance. */
  names(): string[] {
    return [...this.members.keys()];
  }

  /** The raw entry (links not followed). */
  entry(name: string): TarMember | undefined {
    return this.members.get(normalizeName(name));
  }

  /** True when `name` resolves to a regular file. */
  has(name: string): boolean {
    try {
      return this.resolve(name) !== undefined;
    } catch {
      return false;
    }
  }

  /**
   * The regular file `name` names, following symlinks and hardlinks inside the archive (docker
   * and skopeo write `<id>/layer.tar` as links). Undefined when absent; throws when a link leaves
   * the archive or loops.
   */
  resolve(name: string): TarMember | undefined {
    let current = normalizeName(name);
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const m = this.members.get(current);
      if (!m) return undefined;
      if (m.type === 'file') return m;
      if (m.type === 'symlink') {
        if (m.linkname.startsWith('/'))
          throw new UnsafeMemberError(this.path, m.name, `is a symlink to an absolute path`);
        current = insideArchive(this.path, m.name, posix.join(posix.dirname(m.name), m.linkname));
      } else if (m.type === 'link') {
        current = insideArchive(this.path, m.name, m.linkname);
      } else {
        return undefined;
      }
    }
    throw new ArchiveFormatError(this.path, `"${name}" is a link loop`);
  }

  /** The member, or a {@link MissingMemberError}. */
  require(name: string): TarMember {
    const m = this.resolve(name);
    if (!m) throw new MissingMemberError(this.path, name);
    return m;
  }

  /** The member's bytes as a stream of the archive's byte range (unverified). */
  open(name: string, options: ReadMemberOptions = {}): Readable {
    return this.openMember(this.require(name), options);
  }

  openMember(m: TarMember, options: ReadMemberOptions = {}): Readable {
    if (m.size === 0) return Readable.from([]);
    return readFileStream(this.path, { start: m.offset, end: m.offset + m.size - 1, signal: options.signal });
  }

  /** Read a small member whole (manifests, configs); refuses members above `limit` bytes. */
  async read(name: string, limit: number): Promise<Buffer> {
    const m = this.require(name);
    if (m.size > limit) {
      throw new ArchiveFormatError(this.path, `"${name}" is ${m.size} bytes, more than the ${limit} allowed`);
    }
    return this.readRange(m, 0, m.size);
  }

  /** Up to `length` bytes from the start of a member (for sniffing compression). */
  async head(m: TarMember, length: number): Promise<Buffer> {
    return this.readRange(m, 0, Math.min(length, m.size));
  }

  private async readRange(m: TarMember, start: number, length: number): Promise<Buffer> {
    const fh = await open(this.path, 'r');
    try {
      const buf = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, m.offset + start + done);
        if (bytesRead === 0) throw new TruncatedArchiveError(this.path, `"${m.name}" ends early`);
        done += bytesRead;
      }
      return buf;
    } finally {
      await fh.close();
    }
  }
}

/** `./a//b/` → `a/b`; leading slashes dropped as tar does when extracting. */
export function normalizeName(name: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    parts.push(part);
  }
  return parts.join('/');
}

function insideArchive(path: string, member: string, target: string): string {
  const normalized = posix.normalize(target);
  if (normalized === '..' || normalized.startsWith('../') || normalized.startsWith('/')) {
    throw new UnsafeMemberError(path, member, 'links to a file outside the archive');
  }
  return normalizeName(normalized);
}

const COMPRESSED_MAGIC: Array<[string, number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a]],
  ['bzip2', [0x42, 0x5a, 0x68]],
];

/** Compression of a whole file, from its first bytes; undefined when none is recognised. */
export function outerCompression(head: Uint8Array): string | undefined {
  for (const [name, magic] of COMPRESSED_MAGIC) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return name;
  }
  return undefined;
}

interface Pending {
  pax?: Map<string, string>;
  longName?: string;
  longLink?: string;
}

function scan(fh: FileHandle, path: string, signal: AbortSignal | undefined): Map<string, TarMember> {
  // Headers are read synchronously: one 512-byte read per member (an archive of a 20-layer image
  // has some 60), each a thread-pool round trip the scan would wait for.
  const { size: fileSize } = fstatSync(fh.fd);
  if (fileSize === 0) throw new ArchiveFormatError(path, 'the file is empty');
  const members = new Map<string, TarMember>();
  const block = Buffer.alloc(BLOCK);
  let global = new Map<string, string>();
  let pending: Pending = {};
  const first = Buffer.alloc(Math.min(8, fileSize));
  readFully(fh.fd, first, 0, path);
  const compression = outerCompression(first);
  if (compression) throw new CompressedArchiveError(path, compression);
  let pos = 0;
  for (;;) {
    signal?.throwIfAborted();
    if (pos === fileSize) break; // no end-of-archive blocks: accepted, as GNU tar does
    if (pos + BLOCK > fileSize) throw new TruncatedArchiveError(path, `partial header at byte ${pos}`);
    readFully(fh.fd, block, pos, path);
    if (block.every((b) => b === 0)) break;
    const h = decodeHeader(block, pos, path);
    const dataStart = pos + BLOCK;
    if (!HEADER_ONLY.has(h.typeflag) && dataStart + h.size > fileSize) {
      throw new TruncatedArchiveError(path, `member "${h.name}" needs ${h.size} bytes, the file ends first`);
    }
    pos = dataStart + Math.ceil(h.size / BLOCK) * BLOCK;
    if (h.typeflag === 'x' || h.typeflag === 'g' || h.typeflag === 'L' || h.typeflag === 'K') {
      if (h.size > META_LIMIT)
        throw new ArchiveFormatError(path, `tar meta record at byte ${dataStart - BLOCK} is too large`);
      const body = Buffer.alloc(h.size);
      readFully(fh.fd, body, dataStart, path);
      if (h.typeflag === 'x') pending.pax = decodePax(body, path);
      else if (h.typeflag === 'g') global = new Map([...global, ...decodePax(body, path)]);
      else {
        const nul = body.indexOf(0);
        const text = body.toString('utf8', 0, nul < 0 ? body.length : nul);
        if (h.typeflag === 'L') pending.longName = text;
        else pending.longLink = text;
      }
      continue;
    }
    let name = pending.longName ?? h.name;
    let linkname = pending.longLink ?? h.linkname;
    let size = h.size;
    for (const records of [global, pending.pax ?? new Map<string, string>()]) {
      const p = records.get('path');
      if (p !== undefined) name = p;
      const l = records.get('linkpath');
      if (l !== undefined) linkname = l;
      const s = records.get('size');
      if (s !== undefined) {
        if (!/^\d{1,16}$/.test(s)) throw new ArchiveFormatError(path, `invalid PAX size "${s.slice(0, 20)}"`);
        size = Number(s);
      }
    }
    pending = {};
    if (size !== h.size && !HEADER_ONLY.has(h.typeflag)) {
      // A PAX size overrides the header's (which is 0 for members of 8 GiB and more): recompute the end.
      if (dataStart + size > fileSize) {
        throw new TruncatedArchiveError(path, `member "${name}" needs ${size} bytes, the file ends first`);
      }
      pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    }
    let type = typeOf(h.typeflag);
    if (type === 'file' && name.endsWith('/')) type = 'directory';
    // As in Go's archive/tar (what docker reads these with): header-only types carry no data
    // whatever their size field says, so the next header follows at once.
    if (HEADER_ONLY.has(h.typeflag)) pos = dataStart;
    if (type !== 'file') size = 0;
    const normalized = normalizeName(name);
    if (normalized === '') continue;
    members.delete(normalized); // keep map order = order of last appearance
    members.set(normalized, { name: normalized, type, offset: dataStart, size, linkname });
  }
  return members;
}

function readFully(fd: number, buf: Buffer, position: number, path: string): void {
  let done = 0;
  while (done < buf.length) {
    const bytesRead = readSync(fd, buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new TruncatedArchiveError(path, `the file ends at byte ${position + done}`);
    done += bytesRead;
  }
}

function typeOf(flag: string): MemberType {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '1':
      return 'link';
    case '2':
      return 'symlink';
    case '5':
      return 'directory';
    default:
      return 'other';
  }
}

interface RawHeader {
  name: string;
  linkname: string;
  size: number;
  typeflag: string;
}

function cString(b: Buffer, offset: number, width: number): string {
  const end = b.indexOf(0, offset);
  return b.toString('utf8', offset, end < 0 || end > offset + width ? offset + width : end);
}

function decodeHeader(b: Buffer, offset: number, path: string): RawHeader {
  const stored = parseOctal(b, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += v;
    signed += i >= 148 && i < 156 ? 0x20 : (v << 24) >> 24;
  }
  if (stored === undefined || (stored !== unsigned && stored !== signed)) {
    throw offset === 0
      ? new ArchiveFormatError(path, 'not a tar archive')
      : new ArchiveFormatError(path, `bad tar header checksum at byte ${offset}`, 'the archive is corrupt');
  }
  let name = cString(b, 0, 100);
  if (b.toString('latin1', 257, 263) === 'ustar\0') {
    const prefix = cString(b, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const size = parseSize(b, path, offset);
  return { name, linkname: cString(b, 157, 100), size, typeflag: String.fromCharCode(b[156]!) };
}

function parseOctal(b: Buffer, offset: number, width: number): number | undefined {
  let i = offset;
  const end = offset + width;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) return undefined;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  return digits === 0 ? 0 : value;
}

function parseSize(b: Buffer, path: string, offset: number): number {
  if (b[124]! & 0x80) {
    // GNU base-256 for sizes of 8 GiB and more.
    if (b[124] === 0xff) throw new ArchiveFormatError(path, `negative member size at byte ${offset}`);
    let value = b[124]! & 0x7f;
    for (let i = 125; i < 136; i++) {
      value = value * 256 + b[i]!;
      if (value > Number.MAX_SAFE_INTEGER)
        throw new ArchiveFormatError(path, `member size too large at byte ${offset}`);
    }
    return value;
  }
  const v = parseOctal(b, 124, 12);
  if (v === undefined) throw new ArchiveFormatError(path, `invalid member size at byte ${offset}`);
  return v;
}

/** PAX records: `<len> <key>=<value>\n`, len counting the whole record. */
function decodePax(body: Buffer, path: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < body.length) {
    if (body[i] === 0) break;
    const space = body.indexOf(0x20, i);
    if (space < 0) throw new ArchiveFormatError(path, 'malformed PAX record');
    const len = Number(body.toString('latin1', i, space));
    if (!Number.isInteger(len) || len <= space - i || i + len > body.length) {
      throw new ArchiveFormatError(path, 'malformed PAX record');
    }
    const record = body.toString('utf8', space + 1, i + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    i += len;
  }
  return out;
}
