import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gnuTar, gnuTarMissing } from '@pd/test-fixtures';
import { afterAll, describe, expect, test } from 'vitest';
import {
  ArchiveFormatError,
  CompressedArchiveError,
  TarIndex,
  TruncatedArchiveError,
  UnsafeMemberError,
} from '../../src/formats/index.js';
import { TarWriter } from '../../src/formats/tar-writer.js';
import { cleanupTempDirs, run, streamToBuffer, tempDir } from './helpers.js';

afterAll(cleanupTempDirs);

const LONG = `${'deep/'.repeat(30)}${'n'.repeat(120)}.txt`; // 270 characters: needs a long-name record

async function sourceTree(): Promise<{ dir: string; big: Buffer }> {
  const dir = await tempDir();
  const root = join(dir, 'root');
  await mkdir(join(root, LONG, '..'), { recursive: true });
  await writeFile(join(root, LONG), 'long name body\n');
  const big = randomBytes(700_000);
  await writeFile(join(root, 'big.bin'), big);
  await writeFile(join(root, 'small.txt'), 'small\n');
  await mkdir(join(root, 'sub'));
  await symlink('../small.txt', join(root, 'sub', 'rel-link'));
  await symlink('../../../etc/passwd', join(root, 'escape-link'));
  await symlink('/etc/passwd', join(root, 'absolute-link'));
  await link(join(root, 'big.bin'), join(root, 'big-hardlink'));
  return { dir, big };
}

describe.skipIf(gnuTarMissing())('TarIndex over archives written by GNU tar', () => {
  for (const format of ['gnu', 'posix', 'ustar-ish']) {
    test(`${format}: long names, links, data ranges`, async () => {
      const { dir, big } = await sourceTree();
      const out = join(dir, 'a.tar');
      if (format === 'ustar-ish') {
        // Without ./ prefixes and with PAX records for the long name only when needed.
        await gnuTar([
          '--format=posix',
          '-C',
          join(dir, 'root'),
          '-cf',
          out,
          'big.bin',
          'small.txt',
          'sub',
          LONG,
        ]);
      } else {
        await gnuTar([`--format=${format}`, '-C', join(dir, 'root'), '-cf', out, '.']);
      }
      const index = await TarIndex.open(out);
      expect(index.has('small.txt')).toBe(true);
      expect(index.has('./small.txt')).toBe(true);
      expect((await streamToBuffer(index.open(LONG))).toString()).toBe('long name body\n');
      expect((await streamToBuffer(index.open('big.bin'))).equals(big)).toBe(true);
      expect((await index.read('small.txt', 100)).toString()).toBe('small\n');
      expect((await streamToBuffer(index.open('sub/rel-link'))).toString()).toBe('small\n');
      if (format !== 'ustar-ish') {
        expect((await streamToBuffer(index.open('big-hardlink'))).equals(big)).toBe(true);
        expect(() => index.resolve('escape-link')).toThrow(UnsafeMemberError);
        expect(() => index.resolve('absolute-link')).toThrow(UnsafeMemberError);
      }
      expect(index.has('sub')).toBe(false); // a directory is no file
      expect(index.has('nope')).toBe(false);
      await expect(index.read('big.bin', 1000)).rejects.toThrow(ArchiveFormatError);
    });
  }

  test('truncated inside a member and inside a header', async () => {
    const { dir } = await sourceTree();
    const out = join(dir, 'a.tar');
    await gnuTar(['--format=gnu', '-C', join(dir, 'root'), '-cf', out, 'small.txt', 'big.bin']);
    const cutBody = join(dir, 'body.tar');
    await writeFile(cutBody, (await readFile(out)).subarray(0, 512 * 3 + 1000));
    await expect(TarIndex.open(cutBody)).rejects.toThrow(TruncatedArchiveError);
    const cutHeader = join(dir, 'header.tar');
    await writeFile(cutHeader, (await readFile(out)).subarray(0, 512 * 2 + 100));
    const err = await TarIndex.open(cutHeader).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TruncatedArchiveError);
    expect((err as TruncatedArchiveError).hint).toMatch(/save it again/);
  });

  test('an archive without end blocks is accepted; garbage after the header is not', async () => {
    const { dir } = await sourceTree();
    const out = join(dir, 'a.tar');
    await gnuTar(['--format=gnu', '-C', join(dir, 'root'), '-cf', out, 'small.txt']);
    const exact = join(dir, 'exact.tar');
    await writeFile(exact, (await readFile(out)).subarray(0, 1024));
    expect((await TarIndex.open(exact)).names()).toEqual(['small.txt']);
    const bad = join(dir, 'bad.tar');
    const bytes = Buffer.from(await readFile(out));
    bytes[1024 + 10] = 0x41; // a non-zero block where the end should be: a header with a bad checksum
    await writeFile(bad, bytes);
    await expect(TarIndex.open(bad)).rejects.toThrow(/bad tar header checksum at byte 1024/);
  });

  test('compressed, empty and non-tar files get their own errors', async () => {
    const { dir } = await sourceTree();
    const out = join(dir, 'a.tar');
    await gnuTar(['-C', join(dir, 'root'), '-cf', out, 'small.txt']);
    await run('gzip', ['-k', out]);
    const err = await TarIndex.open(`${out}.gz`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompressedArchiveError);
    expect((err as CompressedArchiveError).hint).toMatch(/gunzip -k/);
    const empty = join(dir, 'empty.tar');
    await writeFile(empty, '');
    await expect(TarIndex.open(empty)).rejects.toThrow(/empty/);
    const text = join(dir, 'text.tar');
    await writeFile(text, 'hello, this is not a tar file at all\n'.repeat(40));
    await expect(TarIndex.open(text)).rejects.toThrow(/not a tar archive/);
  });
});

describe.skipIf(gnuTarMissing())('TarWriter output read by GNU tar', () => {
  test('names of every length, streamed members, fixed metadata', async () => {
    const dir = await tempDir();
    const out = join(dir, 'w.tar');
    const body = randomBytes(100_001);
    const longest = `${'x'.repeat(150)}/${'y'.repeat(120)}`; // fits neither ustar name nor prefix+name
    const fh = await open(out, 'w');
    const tar = new TarWriter(fh);
    await tar.file('short', Buffer.from('a'));
    await tar.directory(`${'d'.repeat(120)}`);
    await tar.file(`${'d'.repeat(120)}/${'f'.repeat(99)}`, Buffer.from('b'));
    await tar.stream(longest, body.length, [body.subarray(0, 5000), body.subarray(5000)]);
    await tar.finish();
    await fh.close();
    const listing = await gnuTar(['--numeric-owner', '--full-time', '-tvf', out]);
    const lines = listing.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^-rw-r--r-- 0\/0\s+1 1970-01-01 00:00:00 short$/);
    expect(lines[1]).toMatch(/^drwxr-xr-x 0\/0\s+0 1970-01-01 00:00:00 d{120}\/$/);
    expect(lines[3]).toMatch(new RegExp(`100001 1970-01-01 00:00:00 ${longest}$`));
    const x = join(dir, 'x');
    await mkdir(x);
    await gnuTar(['-C', x, '-xf', out]);
    expect((await readFile(join(x, longest))).equals(body)).toBe(true);
    // And pd's own index agrees.
    const index = await TarIndex.open(out);
    expect((await streamToBuffer(index.open(longest))).equals(body)).toBe(true);
  });

  test('a body shorter or longer than declared fails the write', async () => {
    const dir = await tempDir();
    for (const [declared, actual] of [
      [10, 9],
      [10, 11],
    ] as const) {
      const fh = await open(join(dir, `s${actual}.tar`), 'w');
      const tar = new TarWriter(fh);
      await expect(tar.stream('m', declared, [Buffer.alloc(actual)])).rejects.toThrow(
        `expected ${declared} bytes, got ${actual}`,
      );
      await fh.close();
    }
  });
});

test('a file truncated to 0 after indexing fails to serve, not hang', async () => {
  if (gnuTarMissing()) return;
  const { dir } = await sourceTree();
  const out = join(dir, 'a.tar');
  await gnuTar(['-C', join(dir, 'root'), '-cf', out, 'small.txt']);
  const index = await TarIndex.open(out);
  await truncate(out, 0);
  await expect(index.read('small.txt', 100)).rejects.toThrow(TruncatedArchiveError);
});
