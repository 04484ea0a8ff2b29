import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { collect, scratchDir, sha256 } from '../test/helpers.js';
import { readEntries, type TarHeader, tarContents, tarDirectory, tarPaths } from './index.js';

const base = scratchDir('pd-writer-');

async function headers(tar: Buffer): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const e of readEntries(tar)) {
    out.push(e.header);
    e.body.resume();
  }
  return out;
}

/** Build the same tree with a given creation order, mtimes and owners. */
function makeTree(dir: string, variant: 0 | 1): void {
  const files: [string, string, number][] = [
    ['bin/tool', '#!/bin/sh\necho hi\n', 0o755],
    ['etc/app.conf', 'a=1\n', 0o640],
    ['lib/big.bin', 'x'.repeat(300_000), 0o644],
    ['z/ü-ñ.txt', 'unicode\n', 0o644],
    [`deep/${'d'.repeat(80)}/${'e'.repeat(80)}/file`, 'long\n', 0o644],
  ];
  const order = variant === 0 ? files : [...files].reverse();
  for (const [rel, data, mode] of order) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), data);
    chmodSync(join(dir, rel), mode);
    utimesSync(join(dir, rel), 1_000_000 + variant * 12345, 1_000_000 + variant * 777);
    if (variant === 1 && process.getuid?.() === 0) chownSync(join(dir, rel), 1234, 5678);
  }
  symlinkSync('../etc/app.conf', join(dir, 'bin/conf-link'));
  linkSync(join(dir, 'bin/tool'), join(dir, 'bin/tool-hardlink'));
  mkdirSync(join(dir, 'empty'));
}

describe('tarDirectory', () => {
  const a = join(base, 'a');
  const b = join(base, 'b');
  mkdirSync(a);
  mkdirSync(b);
  makeTree(a, 0);
  makeTree(b, 1);

  test('is byte-identical whatever the creation order, mtimes and owners on disk', async () => {
    const first = await collect(tarDirectory(a));
    const again = await collect(tarDirectory(a));
    const other = await collect(tarDirectory(b));
    expect(sha256(again)).toBe(sha256(first));
    expect(sha256(other)).toBe(sha256(first));
  });

  test('sorts entries, emits parents, keeps modes, symlinks and hardlinks, normalizes owners', async () => {
    const hs = await headers(await collect(tarDirectory(a)));
    const names = hs.map((h) => h.name);
    expect(names).toEqual([...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(names).toContain('bin/');
    expect(names).toContain('empty/');
    const byName = new Map(hs.map((h) => [h.name, h]));
    expect(byName.get('bin/tool')?.mode).toBe(0o755);
    expect(byName.get('etc/app.conf')?.mode).toBe(0o640);
    expect(byName.get('bin/conf-link')).toMatchObject({ type: 'symlink', linkname: '../etc/app.conf' });
    expect(byName.get('bin/tool-hardlink')).toMatchObject({ type: 'link', linkname: 'bin/tool', size: 0 });
    for (const h of hs) expect([h.uid, h.gid, h.uname, h.gname, h.mtime]).toEqual([0, 0, '', '', 0]);
    expect(names).toContain(`deep/${'d'.repeat(80)}/${'e'.repeat(80)}/file`);
    expect(names).toContain('z/ü-ñ.txt');
  });

  test('mtime: SOURCE_DATE_EPOCH, a fixed number, or keep', async () => {
    const saved = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = '1700000000';
    try {
      const hs = await headers(await collect(tarDirectory(a)));
      expect(new Set(hs.map((h) => h.mtime))).toEqual(new Set([1_700_000_000]));
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
    const fixed = await headers(await collect(tarDirectory(a, { mtime: 42 })));
    expect(new Set(fixed.map((h) => h.mtime))).toEqual(new Set([42]));
    const kept = await headers(await collect(tarDirectory(a, { mtime: 'keep' })));
    expect(kept.find((h) => h.name === 'etc/app.conf')?.mtime).toBe(1_000_000);
  });

  test('owner: configurable or kept (numeric only)', async () => {
    const hs = await headers(
      await collect(tarDirectory(a, { owner: { uid: 1000, gid: 100, uname: 'app' } })),
    );
    for (const h of hs) expect([h.uid, h.gid, h.uname, h.gname]).toEqual([1000, 100, 'app', '']);
    if (process.getuid?.() === 0) {
      const kept = await headers(await collect(tarDirectory(b, { owner: 'keep' })));
      expect(kept.find((h) => h.name === 'etc/app.conf')).toMatchObject({ uid: 1234, gid: 5678, uname: '' });
    }
  });

  test('prefix and a filter that drops and rewrites', async () => {
    const hs = await headers(
      await collect(
        tarDirectory(a, {
          prefix: '/opt/app',
          filter: (h) =>
            h.name.endsWith('.bin') ? false : h.name.endsWith('app.conf') ? { ...h, mode: 0o600 } : true,
        }),
      ),
    );
    const names = hs.map((h) => h.name);
    expect(names.slice(0, 3)).toEqual(['opt/', 'opt/app/', 'opt/app/bin/']);
    expect(names.some((n) => n.endsWith('.bin'))).toBe(false);
    expect(hs.find((h) => h.name === 'opt/app/etc/app.conf')?.mode).toBe(0o600);
  });

  test('a filter that renames, in place or with a new header: the new name is cleaned and placed', async () => {
    const hs = await headers(
      await collect(
        tarDirectory(a, {
          filter: (h) => {
            if (h.name === 'etc/app.conf') {
              h.name = '/moved//etc/./app.conf'; // in place, kept with true
              return true;
            }
            return h.name.endsWith('.bin') ? { ...h, name: `bin2/../other/${h.name}` } : true;
          },
        }),
      ),
    );
    const names = hs.map((h) => h.name);
    expect(names).toContain('moved/etc/app.conf');
    expect(names).toContain('moved/');
    expect(names).toContain('other/lib/big.bin');
    expect(names).not.toContain('lib/big.bin');
    expect(names.some((n) => n.includes('//') || n.includes('/./') || n.startsWith('/'))).toBe(false);
  });

  test('dropping a directory drops its subtree', async () => {
    const hs = await headers(await collect(tarDirectory(a, { filter: (h) => h.name !== 'bin/' })));
    expect(hs.some((h) => h.name.startsWith('bin/'))).toBe(false);
  });
});

describe('tarPaths and tarContents', () => {
  test('several sources placed at their destinations; later pairs win', async () => {
    const src = join(base, 'paths');
    mkdirSync(join(src, 'site'), { recursive: true });
    writeFileSync(join(src, 'site', 'index.html'), 'one');
    writeFileSync(join(src, 'other.html'), 'two');
    const tar = await collect(
      tarPaths([
        { src: join(src, 'site'), dest: '/srv/www' },
        { src: join(src, 'other.html'), dest: '/srv/www/index.html' },
      ]),
    );
    const seen: Record<string, string> = {};
    for await (const e of readEntries(tar)) seen[e.header.name] = (await collect(e.body)).toString();
    expect(seen).toEqual({ 'srv/': '', 'srv/www/': '', 'srv/www/index.html': 'two' });
  });

  test('a symlinked source is followed; symlinks inside it are not', async () => {
    const real = join(base, 'real');
    mkdirSync(real);
    writeFileSync(join(real, 'f'), 'content');
    symlinkSync('f', join(real, 'inner-link'));
    symlinkSync(real, join(base, 'real-link'));
    const tar = await collect(tarDirectory(join(base, 'real-link')));
    const hs = await headers(tar);
    expect(hs.map((h) => [h.name, h.type])).toEqual([
      ['f', 'file'],
      ['inner-link', 'symlink'],
    ]);
  });

  test('in-memory content of every type', async () => {
    const tar = await collect(
      tarContents({
        '/etc/app.conf': 'text',
        '/bin/run': { data: new Uint8Array([1, 2, 3]), mode: 0o755, uid: 7, gid: 8, mtime: 99 },
        '/var/empty': { type: 'dir', mode: 0o700 },
        '/etc/link': { type: 'symlink', linkname: 'app.conf' },
        '/etc/hard': { type: 'link', linkname: '/etc/app.conf' },
        '/gone': { type: 'whiteout' },
        '/opaque-dir': { type: 'opaque' },
      }),
    );
    const hs = await headers(tar);
    const byName = new Map(hs.map((h) => [h.name, h]));
    expect(hs.map((h) => h.name)).toEqual([
      '.wh.gone',
      'bin/',
      'bin/run',
      'etc/',
      'etc/app.conf',
      'etc/hard',
      'etc/link',
      'opaque-dir/',
      'opaque-dir/.wh..wh..opq',
      'var/',
      'var/empty/',
    ]);
    expect(byName.get('bin/run')).toMatchObject({ mode: 0o755, uid: 7, gid: 8, mtime: 99, size: 3 });
    expect(byName.get('var/empty/')).toMatchObject({ type: 'directory', mode: 0o700 });
    expect(byName.get('etc/hard')).toMatchObject({ type: 'link', linkname: 'etc/app.conf' });
  });

  test('long and non-ASCII names and link targets go through PAX, and large owners too', async () => {
    const long = `${'x'.repeat(120)}/${'y'.repeat(120)}/${'z'.repeat(120)}`;
    const tar = await collect(
      tarContents({
        [long]: 'a',
        '/日本/ファイル': 'b',
        '/l': { type: 'symlink', linkname: 't'.repeat(300) },
        '/big-owner': { data: 'c', uid: 2 ** 30, uname: 'n'.repeat(40) },
      }),
    );
    const hs = await headers(tar);
    const names = hs.map((h) => h.name);
    expect(names).toContain(long);
    expect(names).toContain('日本/ファイル');
    expect(hs.find((h) => h.name === 'l')?.linkname).toBe('t'.repeat(300));
    expect(hs.find((h) => h.name === 'big-owner')).toMatchObject({ uid: 2 ** 30, uname: 'n'.repeat(40) });
  });

  test('bytes at every edge of the gathering buffer come out whole: GNU tar extracts them', async () => {
    // Small files are read into one buffer of about 512 KiB, big ones streamed, pieces larger
    // than the buffer passed as they are: sizes on each side of those edges, random bytes.
    const dir = join(base, 'edges');
    const sizes = [0, 1, 511, 512, 513, 100_000, 262_143, 262_144, 262_145, 300_000, 600_000, 1_500_000];
    const files = new Map<string, Buffer>();
    for (const [i, n] of sizes.entries()) files.set(`f${String(i).padStart(2, '0')}-${n}`, randomBytes(n));
    for (let i = 0; i < 60; i++)
      files.set(`small/s${String(i).padStart(2, '0')}`, randomBytes(7_000 + i * 97));
    mkdirSync(join(dir, 'small'), { recursive: true });
    for (const [name, data] of files) writeFileSync(join(dir, name), data);
    const memory = { '/mem/big': { data: randomBytes(700_000) }, '/mem/tiny': 'x' };
    for (const [tar, want] of [
      [await collect(tarDirectory(dir)), files],
      [
        await collect(tarContents(memory)),
        new Map([
          ['mem/big', memory['/mem/big'].data],
          ['mem/tiny', Buffer.from('x')],
        ]),
      ],
    ] as const) {
      const out = mkdtempSync(join(base, 'gnu-'));
      execFileSync('tar', ['-x', '-C', out], { input: tar });
      for (const [name, data] of want) expect(sha256(readFileSync(join(out, name))), name).toBe(sha256(data));
    }
  });
});
