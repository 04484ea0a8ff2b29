import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { collect, scratchDir } from '../test/helpers.js';
import { decodeHeader, encodeHeader, type TarHeader } from './header.js';
import { readEntries, TarFormatError, tarContents } from './index.js';
import { decodePax, encodePax } from './pax.js';

const base = scratchDir('pd-header-');

// Every property runs from one seed, PD_TEST_SEED (fixed in vitest.shared.ts; set it to try
// another): fast-check prints it with a failure, so the run can be repeated exactly.
fc.configureGlobal({ seed: Number(process.env.PD_TEST_SEED) });

const file = (name: string, extra: Partial<TarHeader> = {}): TarHeader => ({
  name,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  uname: '',
  gname: '',
  size: 0,
  mtime: 0,
  linkname: '',
  devmajor: 0,
  devminor: 0,
  ...extra,
});

describe('PAX records', () => {
  test('lengths count their own digits at every boundary', () => {
    for (let n = 0; n < 1200; n++) {
      const body = encodePax([{ key: 'path', value: Buffer.from('x'.repeat(n)) }]);
      const len = Number(body.toString().split(' ')[0]);
      expect(len).toBe(body.length);
      expect(decodePax(body).get('path')?.toString()).toBe('x'.repeat(n));
    }
  });

  test('malformed records are format errors', () => {
    expect(() => decodePax(Buffer.from('99 path=x\n'))).toThrow(TarFormatError);
    expect(() => decodePax(Buffer.from('abc path=x\n'))).toThrow(TarFormatError);
    expect(() => decodePax(Buffer.from('11 pathxxx\n'))).toThrow(TarFormatError);
  });
});

describe('ustar headers', () => {
  test('a name of exactly 100 bytes fits; longer names split on a slash into prefix and name', () => {
    const n100 = 'a'.repeat(100);
    expect(encodeHeader(file(n100)).length).toBe(512);
    const split = `${'p'.repeat(150)}/${'n'.repeat(99)}`;
    const h = encodeHeader(file(split));
    expect(h.length).toBe(512);
    expect(decodeHeader(h, 0).header.name).toBe(split);
    // No slash at a usable place: PAX.
    expect(encodeHeader(file('q'.repeat(101))).length).toBe(512 * 3);
  });

  test('fields and checksum as GNU tar writes them: octal digits and a NUL, the sum, a NUL and a space', () => {
    // GNU tar (ustar) writes this file's header so, but for its zero device numbers, which it
    // spells out ("0000000") where pd leaves the fields empty: compared without those bytes.
    const gnu = execFileSync('sh', [
      '-c',
      'cd "$1" && mkdir -p d && printf hello > d/f.txt && tar --format=ustar --numeric-owner --owner=0 --group=0 --mtime=@1700000000 --mode=0640 -cf - d/f.txt',
      'sh',
      mkdtempSync(join(base, 'gnu-')),
    ]).subarray(0, 512);
    const pd = encodeHeader(file('d/f.txt', { mode: 0o640, size: 5, mtime: 1700000000 }));
    const without = (b: Buffer) => Buffer.concat([b.subarray(0, 148), b.subarray(156, 329), b.subarray(345)]);
    expect(without(pd).equals(without(gnu))).toBe(true);
    // The checksum field: the sum of the block's bytes (the field itself as spaces), six octal
    // digits, a NUL and a space; summed here apart from the writer's own running sum.
    fc.assert(
      fc.property(
        fc.record({
          name: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 100 }),
          mode: fc.integer({ min: 0, max: 0o7777 }),
          uid: fc.nat(0o7777777),
          size: fc.nat(2 ** 33 - 1),
          mtime: fc.nat(2 ** 33 - 1),
          uname: fc.string({ unit: 'binary-ascii', maxLength: 32 }),
        }),
        (f) => {
          const { name, ...fields } = f;
          const b = encodeHeader(file(name, fields));
          let sum = 0;
          for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
          return b.toString('latin1', 148, 156) === `${sum.toString(8).padStart(6, '0')}\0 `;
        },
      ),
    );
  });

  test('sizes beyond 8 GiB go to PAX; base-256 sizes are read', () => {
    const big = encodeHeader(file('big', { size: 2 ** 34 }));
    expect(big.length).toBeGreaterThan(512);
    const raw = Buffer.from(encodeHeader(file('b256')));
    raw[124] = 0x80;
    raw.fill(0, 125, 136);
    raw[131] = 1; // 2^32
    raw.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of raw) sum += byte;
    raw.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    expect(decodeHeader(raw, 0).header.size).toBe(2 ** 32);
  });

  test('checksum mismatch and invalid octal are format errors', () => {
    const h = Buffer.from(encodeHeader(file('x')));
    h[0] = 0x79;
    expect(() => decodeHeader(h, 0)).toThrow(TarFormatError);
    const o = Buffer.from(encodeHeader(file('x')));
    o.write('9', 100, 'latin1');
    expect(() => decodeHeader(o, 0)).toThrow(TarFormatError);
  });
});

// Names as any tool could meet them: unicode, spaces, long components, deep paths.
const segment = fc
  .stringMatching(/^[a-zA-Z0-9 ._\-éßü日本€]{1,60}$/)
  .filter((s) => s !== '.' && s !== '..' && !s.startsWith('.wh.'));
const path = fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('/'));

describe('round trips', () => {
  test('any names and contents come back from readEntries and from GNU tar', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(path, { minLength: 1, maxLength: 8 }),
        fc.uint8Array({ maxLength: 2000 }),
        async (paths, data) => {
          // A path that is also another's parent cannot be a file; keep only the leaves.
          const leaves = paths.filter((p) => !paths.some((q) => q.startsWith(`${p}/`)));
          const tar = await collect(tarContents(Object.fromEntries(leaves.map((p) => [p, data]))));
          const read = new Map<string, Buffer>();
          for await (const e of readEntries(tar)) read.set(e.header.name, await collect(e.body));
          for (const p of leaves) expect(read.get(p)?.equals(Buffer.from(data))).toBe(true);
          const f = join(base, `prop-${run++}.tar`);
          writeFileSync(f, tar);
          const listed = execFileSync('tar', ['-tf', f], { encoding: 'utf8' }).split('\n').filter(Boolean);
          expect(listed).toEqual([...read.keys()]);
        },
      ),
      { numRuns: 40 },
    );
  });
});
