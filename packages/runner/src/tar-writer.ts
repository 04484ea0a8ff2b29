import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';

// A minimal PAX tar writer for the two archives the runner writes itself:
// - Node can neither create device nodes nor set extended attributes, and overlayfs needs both
//   for whiteouts (a 0/0 character device) and opaque directories (trusted.overlay.opaque=y).
//   GNU tar can do both and is on every Debian-like system, so after @pd/tar has extracted a
//   layer safely, the few entries that need them are described in a small archive and handed to
//   `tar -x --xattrs`. Every name in it was resolved by the runner to a real path in the layer.
// - the docker-archive streamed into `docker load` (until @pd/image's writeDockerArchive can
//   write to a stream).

export interface TarEntry {
  /** Relative path inside the extraction directory (no `..`, no leading `/`). */
  name: string;
  type: 'directory' | 'file' | 'whiteout' | 'link' | 'symlink';
  /** For hardlinks: the path (relative, like `name`) of the file linked to; for symlinks, their target. */
  linkname?: string;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  xattrs?: Record<string, Buffer>;
  /** For files: where the bytes come from (a file on disk, a stream opened on demand, or memory) and how many. */
  source?:
    | { path: string; size: number }
    | { open: () => Promise<Readable>; size: number }
    | { data: Uint8Array; size: number };
}

const BLOCK = 512;

function octal(buf: Buffer, value: number, offset: number, width: number): void {
  buf.write(value.toString(8).padStart(width - 1, '0'), offset, width - 1, 'latin1');
}

function header(name: string, typeflag: string, e: Omit<TarEntry, 'name' | 'type'>, size: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  // The real name travels in the PAX record; this one only has to be harmless and short.
  b.write(name.slice(0, 99), 0, 100, 'latin1');
  octal(b, e.mode & 0o7777, 100, 8);
  octal(b, e.uid, 108, 8);
  octal(b, e.gid, 116, 8);
  octal(b, size, 124, 12);
  octal(b, Math.max(0, Math.floor(e.mtime)), 136, 12);
  b.write(typeflag, 156, 1, 'latin1');
  b.write('ustar\u000000', 257, 8, 'latin1');
  if (typeflag === '3') {
    octal(b, 0, 329, 8);
    octal(b, 0, 337, 8);
  }
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}

function paxRecord(key: string, value: Buffer): Buffer {
  // "<len> <key>=<value>\n" where <len> counts itself.
  const rest = Buffer.byteLength(` ${key}=`) + value.length + 1;
  let len = rest + 1;
  while (String(len).length + rest !== len) len = String(len).length + rest;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

const pad = (n: number) => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);

async function* entries(list: TarEntry[]): AsyncGenerator<Buffer> {
  for (const e of list) {
    const records = [paxRecord('path', Buffer.from(e.name, 'utf8'))];
    if (e.linkname !== undefined) records.push(paxRecord('linkpath', Buffer.from(e.linkname, 'utf8')));
    for (const [k, v] of Object.entries(e.xattrs ?? {})) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
    const body = Buffer.concat(records);
    yield header('PaxHeader', 'x', { ...e, mode: 0o644, uid: 0, gid: 0 }, body.length);
    yield body;
    yield pad(body.length);
    const size = e.type === 'file' ? (e.source?.size ?? 0) : 0;
    const flag = { directory: '5', whiteout: '3', link: '1', symlink: '2', file: '0' }[e.type];
    yield header(e.name, flag, e, size);
    if (e.type === 'file' && e.source) {
      const src = e.source;
      let seen = 0;
      const chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> =
        'data' in src ? [src.data] : 'path' in src ? createReadStream(src.path) : await src.open();
      for await (const chunk of chunks) {
        const c = chunk as Buffer;
        // The size went into the header already: a source that disagrees would corrupt the archive.
        if (seen + c.length > size) throw new Error(`${e.name}: source is larger than ${size} bytes`);
        seen += c.length;
        yield c;
      }
      if (seen !== size) throw new Error(`${e.name}: source is ${seen} bytes, not ${size}`);
      yield pad(size);
    }
  }
  yield Buffer.alloc(BLOCK * 2);
}

/** A PAX archive of `list`. */
export function writeTar(list: TarEntry[]): Readable {
  return Readable.from(entries(list), { objectMode: false });
}
