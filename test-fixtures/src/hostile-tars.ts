/**
 * Hostile tar archives for extraction tests, built byte by byte from hand-written 512-byte
 * headers: independent of @pd/tar and of tar-stream, so a bug in pd's writer or reader cannot
 * hide the same bug in its extractor's tests.
 */

const BLOCK = 512;

export interface RawHeaderFields {
  name: string;
  /** Typeflag character: '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo, 'x' PAX, 'L' GNU long name. */
  type?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Write the size field in GNU base-256 (for sizes that do not fit 11 octal digits). */
  base256Size?: bigint;
  /** Store a wrong checksum. */
  badChecksum?: boolean;
}

function octal(b: Buffer, value: number, offset: number, width: number): void {
  b.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1');
}

/** One ustar header block, checksum computed (or deliberately wrong). */
export function rawHeader(f: RawHeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  const name = Buffer.from(f.name, 'utf8');
  if (name.length > 100) throw new RangeError(`rawHeader: name longer than 100 bytes: ${f.name}`);
  name.copy(b, 0);
  octal(b, f.mode ?? 0o644, 100, 8);
  octal(b, f.uid ?? 0, 108, 8);
  octal(b, f.gid ?? 0, 116, 8);
  if (f.base256Size !== undefined) {
    b[124] = 0x80;
    let v = f.base256Size;
    for (let i = 135; i > 124; i--) {
      b[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  } else {
    octal(b, f.size ?? 0, 124, 12);
  }
  octal(b, f.mtime ?? 0, 136, 12);
  b.write(f.type ?? '0', 156, 1, 'latin1');
  if (f.linkname) Buffer.from(f.linkname, 'utf8').copy(b, 157, 0, 100);
  b.write('ustar\x0000', 257, 8, 'latin1');
  octal(b, f.devmajor ?? 0, 329, 8);
  octal(b, f.devminor ?? 0, 337, 8);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  if (f.badChecksum) sum += 1;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}

function pad(data: Buffer): Buffer {
  const rem = data.length % BLOCK;
  return rem === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rem)]);
}

/** A header followed by its (padded) data. */
export function rawEntry(f: RawHeaderFields, data: string | Buffer = ''): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([rawHeader({ ...f, size: f.size ?? body.length }), pad(body)]);
}

export function paxEntry(records: Record<string, string>): Buffer {
  let body = '';
  for (const [k, v] of Object.entries(records)) {
    const rest = Buffer.byteLength(`${k}=${v}\n`) + 1;
    let len = rest + String(rest).length;
    if (String(len).length !== String(len - rest).length) len = rest + String(len).length;
    body += `${len} ${k}=${v}\n`;
  }
  return rawEntry({ name: 'PaxHeader/x', type: 'x' }, body);
}

export function gnuLongName(name: string): Buffer {
  return rawEntry({ name: '././@LongLink', type: 'L' }, `${name}\0`);
}

export const END = Buffer.alloc(BLOCK * 2);

export function archive(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, END]);
}

export interface HostileTar {
  name: string;
  description: string;
  bytes: Buffer;
  /**
   * What a safe extractor does: `unsafe` refuses the archive (or skips the offending entries when
   * asked to); `format` fails as malformed; `any` may succeed or fail, but only inside the target.
   */
  expect: 'unsafe' | 'format' | 'any';
}

/**
 * Every hostile case. `outside` is an absolute directory beside the extraction target (a
 * sentinel the test snapshots); cases that use absolute paths aim at it, so a broken extractor
 * damages only the sentinel.
 */
export function hostileTars(outside: string): HostileTar[] {
  const o = outside.replace(/\/+$/, '');
  const cases: HostileTar[] = [
    {
      name: 'dotdot-file',
      description: '"../outside/pwned" climbs out of the target',
      bytes: archive(rawEntry({ name: '../outside/pwned' }, 'pwned')),
      expect: 'unsafe',
    },
    {
      name: 'dotdot-nested',
      description: '"a/../../outside/pwned" climbs out after a harmless component',
      bytes: archive(
        rawEntry({ name: 'a/', type: '5', mode: 0o755 }),
        rawEntry({ name: 'a/../../outside/pwned' }, 'pwned'),
      ),
      expect: 'unsafe',
    },
    {
      name: 'absolute-file',
      description: 'an absolute name pointing into the sentinel directory',
      bytes: archive(rawEntry({ name: `${o}/pwned-abs` }, 'pwned')),
      expect: 'any',
    },
    {
      name: 'symlink-out-then-file',
      description: 'symlink to ../outside, then a file written through it',
      bytes: archive(
        rawEntry({ name: 'evil', type: '2', linkname: '../outside', mode: 0o777 }),
        rawEntry({ name: 'evil/pwned' }, 'pwned'),
      ),
      expect: 'unsafe',
    },
    {
      name: 'symlink-abs-then-file',
      description: 'symlink to the absolute sentinel path, then a file written through it',
      bytes: archive(
        rawEntry({ name: 'evil', type: '2', linkname: o, mode: 0o777 }),
        rawEntry({ name: 'evil/pwned' }, 'pwned'),
      ),
      expect: 'any',
    },
    {
      name: 'symlink-out-then-dir',
      description: 'symlink to ../outside, then a directory entry through it',
      bytes: archive(
        rawEntry({ name: 'evil', type: '2', linkname: '../outside', mode: 0o777 }),
        rawEntry({ name: 'evil/newdir/', type: '5', mode: 0o777 }),
      ),
      expect: 'unsafe',
    },
    {
      name: 'symlink-out-then-chmod-dir',
      description: 'symlink to ../outside, then a directory entry for the symlink itself (chmod through it)',
      bytes: archive(
        rawEntry({ name: 'evil', type: '2', linkname: '../outside', mode: 0o777 }),
        rawEntry({ name: 'evil/', type: '5', mode: 0o777 }),
      ),
      expect: 'any',
    },
    {
      name: 'symlink-chain-out',
      description: 'a -> b, b -> ../outside, then a/pwned',
      bytes: archive(
        rawEntry({ name: 'b', type: '2', linkname: '../outside' }),
        rawEntry({ name: 'a', type: '2', linkname: 'b' }),
        rawEntry({ name: 'a/pwned' }, 'pwned'),
      ),
      expect: 'unsafe',
    },
    {
      name: 'symlink-deep-out',
      description: 'sub/evil -> ../../outside, then sub/evil/pwned',
      bytes: archive(
        rawEntry({ name: 'sub/', type: '5', mode: 0o755 }),
        rawEntry({ name: 'sub/evil', type: '2', linkname: '../../outside' }),
        rawEntry({ name: 'sub/evil/pwned' }, 'pwned'),
      ),
      expect: 'unsafe',
    },
    {
      name: 'symlink-loop',
      description: 'a -> b, b -> a, then a/x',
      bytes: archive(
        rawEntry({ name: 'a', type: '2', linkname: 'b' }),
        rawEntry({ name: 'b', type: '2', linkname: 'a' }),
        rawEntry({ name: 'a/x' }, 'x'),
      ),
      expect: 'unsafe',
    },
    {
      name: 'symlink-overwrite-file',
      description:
        'symlink "victim" -> ../outside/victim, then a regular file "victim" (must replace the link, not write through it)',
      bytes: archive(
        rawEntry({ name: 'victim', type: '2', linkname: '../outside/victim' }),
        rawEntry({ name: 'victim' }, 'pwned'),
      ),
      expect: 'any',
    },
    {
      name: 'hardlink-etc-passwd',
      description: 'hardlink to /etc/passwd',
      bytes: archive(rawEntry({ name: 'passwd', type: '1', linkname: '/etc/passwd' })),
      expect: 'any',
    },
    {
      name: 'hardlink-abs-then-write',
      description: 'hardlink to the absolute sentinel file, then a file of the same name written over it',
      bytes: archive(
        rawEntry({ name: 'victim', type: '1', linkname: `${o}/victim` }),
        rawEntry({ name: 'victim' }, 'pwned'),
      ),
      expect: 'any',
    },
    {
      name: 'hardlink-dotdot-then-write',
      description: 'hardlink to ../outside/victim, then a file of the same name written over it',
      bytes: archive(
        rawEntry({ name: 'victim', type: '1', linkname: '../outside/victim' }),
        rawEntry({ name: 'victim' }, 'pwned'),
      ),
      expect: 'unsafe',
    },
    {
      name: 'hardlink-through-symlink',
      description: 'symlink to ../outside, then a hardlink to evil/victim',
      bytes: archive(
        rawEntry({ name: 'evil', type: '2', linkname: '../outside' }),
        rawEntry({ name: 'victim', type: '1', linkname: 'evil/victim' }),
        rawEntry({ name: 'victim' }, 'pwned'),
      ),
      expect: 'unsafe',
    },
    {
      name: 'dir-replaced-by-symlink',
      description: 'directory d/, then symlink d -> ../outside, then d/pwned',
      bytes: archive(
        rawEntry({ name: 'd/', type: '5', mode: 0o755 }),
        rawEntry({ name: 'd/ok' }, 'ok'),
        rawEntry({ name: 'd', type: '2', linkname: '../outside' }),
        rawEntry({ name: 'd/pwned' }, 'pwned'),
      ),
      expect: 'unsafe',
    },
    {
      name: 'gnu-longname-escape',
      description: 'GNU long name (typeflag L) carrying ../ components',
      bytes: archive(
        gnuLongName(`${'a/'.repeat(60)}${'../'.repeat(61)}outside/pwned-long`),
        rawEntry({ name: 'harmless' }, 'pwned'),
      ),
      expect: 'unsafe',
    },
    {
      name: 'pax-path-escape',
      description: 'PAX path record carrying ../',
      bytes: archive(paxEntry({ path: '../outside/pwned-pax' }), rawEntry({ name: 'harmless' }, 'pwned')),
      expect: 'unsafe',
    },
    {
      name: 'pax-linkpath-escape',
      description: 'symlink whose PAX linkpath leads out, then a file through it',
      bytes: archive(
        paxEntry({ linkpath: '../outside' }),
        rawEntry({ name: 'evil', type: '2', linkname: 'harmless' }),
        rawEntry({ name: 'evil/pwned' }, 'pwned'),
      ),
      expect: 'unsafe',
    },
    {
      name: 'whiteout-escape',
      description: '"../.wh.outside" tries to delete the sentinel directory',
      bytes: archive(rawEntry({ name: '../.wh.outside' })),
      expect: 'unsafe',
    },
    {
      name: 'whiteout-nested-escape',
      description: '"a/../../.wh.outside" tries to delete the sentinel directory',
      bytes: archive(rawEntry({ name: 'a/../../.wh.outside' })),
      expect: 'unsafe',
    },
    {
      name: 'whiteout-through-symlink',
      description: 'symlink up -> .., then up/.wh.outside',
      bytes: archive(
        rawEntry({ name: 'up', type: '2', linkname: '..' }),
        rawEntry({ name: 'up/.wh.outside' }),
      ),
      expect: 'unsafe',
    },
    {
      name: 'opaque-through-symlink',
      description: 'symlink up -> ../outside, then up/.wh..wh..opq (would empty the sentinel)',
      bytes: archive(
        rawEntry({ name: 'up', type: '2', linkname: '../outside' }),
        rawEntry({ name: 'up/.wh..wh..opq' }),
      ),
      expect: 'unsafe',
    },
    {
      name: 'whiteout-dotdot-target',
      description: '".wh.." names ".." as the path to delete',
      bytes: archive(rawEntry({ name: 'a/', type: '5', mode: 0o755 }), rawEntry({ name: 'a/.wh..' })),
      expect: 'unsafe',
    },
    {
      name: 'device-nodes',
      description: 'character and block device nodes',
      bytes: archive(
        rawEntry({ name: 'null2', type: '3', devmajor: 1, devminor: 3, mode: 0o666 }),
        rawEntry({ name: 'sda9', type: '4', devmajor: 8, devminor: 9, mode: 0o660 }),
        rawEntry({ name: 'pipe', type: '6', mode: 0o644 }),
      ),
      expect: 'any',
    },
    {
      name: 'setuid-file',
      description: 'setuid and setgid root-owned executables',
      bytes: archive(
        rawEntry({ name: 'suid', mode: 0o4755 }, '#!/bin/sh\n'),
        rawEntry({ name: 'sgid', mode: 0o2755 }, '#!/bin/sh\n'),
      ),
      expect: 'any',
    },
    {
      name: 'truncated-data',
      description: 'a file claims 1000 bytes, the archive ends after 100',
      bytes: Buffer.concat([rawHeader({ name: 'short', size: 1000 }), Buffer.alloc(100, 0x61)]),
      expect: 'format',
    },
    {
      name: 'truncated-header',
      description: 'the archive ends in the middle of a header',
      bytes: Buffer.concat([rawEntry({ name: 'ok' }, 'ok'), rawHeader({ name: 'cut' }).subarray(0, 300)]),
      expect: 'format',
    },
    {
      name: 'huge-size',
      description: 'a file claims 8 GiB - 1 bytes with almost nothing behind it',
      bytes: Buffer.concat([rawHeader({ name: 'huge', size: 0o77777777777 }), Buffer.alloc(BLOCK, 0x61)]),
      expect: 'format',
    },
    {
      name: 'huge-base256-size',
      description: 'a base-256 size of 2^80 bytes',
      bytes: Buffer.concat([rawHeader({ name: 'huge', base256Size: 1n << 80n }), Buffer.alloc(BLOCK)]),
      expect: 'format',
    },
    {
      name: 'huge-pax',
      description: 'a PAX header claiming 100 MB',
      bytes: Buffer.concat([
        rawHeader({ name: 'PaxHeader/x', type: 'x', size: 100_000_000 }),
        Buffer.alloc(BLOCK),
      ]),
      expect: 'format',
    },
    {
      name: 'bad-checksum',
      description: 'a header whose checksum does not match',
      bytes: archive(rawEntry({ name: 'ok' }, 'ok'), rawEntry({ name: 'bad', badChecksum: true }, 'bad')),
      expect: 'format',
    },
  ];
  return cases;
}
