import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type Digest, DigestMismatchError, digestOf, SizeMismatchError } from '@pd/oci-types';
import { archive, paxEntry, rawEntry } from '@pd/test-fixtures';
import { describe, expect, test } from 'vitest';
import { collect, describeTree, scratchDir } from '../test/helpers.js';
import { FileSlice } from './batched-file.js';
import { compressLayer } from './compress.js';
import { decompress, sliceTar } from './decompress.js';
import { TarFormatError } from './errors.js';
import { extract } from './extract.js';

const isRoot = process.getuid?.() === 0;
const base = scratchDir('pd-file-slice-');

/**
 * A layer tar of several MiB, so that its entries cross the slice's 1 MiB chunks many times, with
 * a global PAX record at its start that the last entry still needs, and extended attributes on an
 * early entry: what a lent chunk must not take with it when its memory is read into again.
 */
const big = randomBytes(3 * 1024 * 1024 + 777);
const layer = archive(
  // A global PAX record (type g), which applies to every entry after it.
  rawEntry({ name: 'pax_global_header', type: 'g' }, '20 mtime=1234567890\n'),
  rawEntry({ name: 'dir/', type: '5', mode: 0o755 }),
  paxEntry({ 'SCHILY.xattr.user.kept': 'value-from-the-first-chunk' }),
  rawEntry({ name: 'dir/early', mode: 0o644 }, 'early'),
  rawEntry({ name: 'dir/big', mode: 0o600 }, big),
  rawEntry({ name: 'dir/big2', mode: 0o640 }, big.subarray(5, 2 * 1024 * 1024)),
  rawEntry({ name: 'late', mode: 0o644 }, 'late'),
);
// The layer inside a larger file, as a member sits in an archive.
const file = join(base, 'archive');
const junk = randomBytes(1000);
writeFileSync(file, Buffer.concat([junk, layer, junk]));

describe('FileSlice', () => {
  test('reads exactly its range, lent or as fresh chunks, checked against its digest', async () => {
    const slice = new FileSlice(file, junk.length, layer.length, { digest: digestOf(layer) });
    expect((await collect(slice)).equals(layer)).toBe(true);
    const lent: Buffer[] = [];
    for await (const chunk of slice.lentChunks()) lent.push(Buffer.from(chunk));
    expect(lent.length).toBeGreaterThan(4);
    expect(Buffer.concat(lent).equals(layer)).toBe(true);
  });

  test('extracts the same tree as a stream of the same bytes: global records and attributes intact', async () => {
    const seen: Record<string, string> = {};
    const onXattrs = (path: string, xattrs: Record<string, Buffer>) => {
      for (const [k, v] of Object.entries(xattrs)) seen[`${path.slice(base.length)}:${k}`] = v.toString();
    };
    const fromSlice = join(base, 'from-slice');
    const fromStream = join(base, 'from-stream');
    const slice = new FileSlice(file, junk.length, layer.length, { digest: digestOf(layer) });
    const stats = await extract(slice, fromSlice, { onXattrs });
    await extract(layer, fromStream);
    expect(stats.bytes).toBe(big.length + 2 * 1024 * 1024 - 5 + 'early'.length + 'late'.length);
    expect(describeTree(fromSlice, { mtime: true })).toEqual(describeTree(fromStream, { mtime: true }));
    expect(lstatSync(join(fromSlice, 'late')).mtimeMs).toBe(1234567890 * 1000);
    expect(seen).toEqual({ '/from-slice/dir/early:user.kept': 'value-from-the-first-chunk' });
  });

  // The big files' chunks are written on the thread pool while the next ones are read: a write
  // that fails must fail the extraction (and close its file), as a synchronous one did.
  test.skipIf(!isRoot)('a write that fails (a full filesystem) fails the extraction', async () => {
    const small = join(base, 'small-fs');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      const slice = new FileSlice(file, junk.length, layer.length, { digest: digestOf(layer) });
      await expect(extract(slice, join(small, 'root'))).rejects.toMatchObject({ code: 'ENOSPC' });
    } finally {
      execFileSync('umount', [small]);
    }
  });

  test('a wrong digest fails the extraction; a file shorter than the slice is a size mismatch', async () => {
    const wrong = new FileSlice(file, junk.length, layer.length, { digest: digestOf('x') });
    await expect(extract(wrong, join(base, 'wrong'))).rejects.toBeInstanceOf(DigestMismatchError);
    const past = new FileSlice(file, junk.length, layer.length + junk.length + 1, {
      digest: digestOf(layer),
    });
    await expect(collect(past.lentChunks())).rejects.toBeInstanceOf(SizeMismatchError);
    await expect(collect(past)).rejects.toBeInstanceOf(SizeMismatchError);
  });
});

/** `layer` compressed, inside a file between junk (a layout's blob, an archive's member), as a slice. */
async function compressedSlice(compression: 'gzip' | 'zstd'): Promise<FileSlice> {
  const { stream, result } = compressLayer(Readable.from([layer]), { compression });
  const blob = await collect(stream);
  const path = join(base, `archive.${compression}`);
  writeFileSync(path, Buffer.concat([junk, blob, junk]));
  return new FileSlice(path, junk.length, blob.length, { digest: (await result).digest as Digest });
}

describe('FileSlice of a compressed layer', () => {
  test.each(['gzip', 'zstd'] as const)(
    '%s: extracts the same tree as the uncompressed stream, read through lent chunks',
    async (compression) => {
      const slice = (await compressedSlice(compression)).decompressingTo(digestOf(layer));
      const fromSlice = join(base, `${compression}-slice`);
      const fromStream = join(base, `${compression}-stream`);
      await extract(slice, fromSlice);
      await extract(layer, fromStream);
      expect(describeTree(fromSlice, { mtime: true })).toEqual(describeTree(fromStream, { mtime: true }));
      // The same bytes, lent or fresh, and through decompress() as a stream.
      expect((await collect(sliceTar(slice, true))).equals(layer)).toBe(true);
      expect((await collect(decompress(slice))).equals(layer)).toBe(true);
    },
  );

  test('the diffID is checked once decompressed, the blob digest as read', async () => {
    const gz = await compressedSlice('gzip');
    const wrongDiff = gz.decompressingTo(digestOf('not the layer'));
    await expect(extract(wrongDiff, join(base, 'wrong-diff'))).rejects.toThrow(DigestMismatchError);
    await expect(collect(decompress(wrongDiff))).rejects.toThrow(/uncompressed/);
    const wrongBlob = new FileSlice(gz.path, gz.start, gz.size, { digest: digestOf('x') }).decompressingTo(
      digestOf(layer),
    );
    await expect(extract(wrongBlob, join(base, 'wrong-blob'))).rejects.toBeInstanceOf(DigestMismatchError);
    // Without a diffID, only the blob's digest is checked.
    expect((await collect(sliceTar(gz, true))).equals(layer)).toBe(true);
  });

  test('checked: the blob digest is not computed again, the size and the diffID still are', async () => {
    const gz = await compressedSlice('gzip');
    // A digest the bytes do not have, taken as checked: read without complaint.
    const trusted = new FileSlice(gz.path, gz.start, gz.size, { digest: digestOf('x'), checked: true });
    expect((await collect(sliceTar(trusted.decompressingTo(digestOf(layer)), true))).equals(layer)).toBe(
      true,
    );
    await expect(
      extract(trusted.decompressingTo(digestOf('not the layer')), join(base, 'checked-diff')),
    ).rejects.toBeInstanceOf(DigestMismatchError);
    const longer = new FileSlice(gz.path, gz.start, gz.size + junk.length + 1, {
      digest: gz.digest,
      checked: true,
    });
    await expect(collect(longer.lentChunks())).rejects.toBeInstanceOf(SizeMismatchError);
  });

  test('corrupt gzip is a TarFormatError; a reader that stops early lets the file go', async () => {
    const gz = await compressedSlice('gzip');
    const bytes = Buffer.concat([
      junk,
      Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]),
      randomBytes(4 << 20),
    ]);
    const path = join(base, 'corrupt.gz');
    writeFileSync(path, bytes);
    const corrupt = new FileSlice(path, junk.length, bytes.length - junk.length, { digest: digestOf(bytes) });
    await expect(collect(sliceTar(corrupt, true))).rejects.toBeInstanceOf(TarFormatError);
    // One chunk of output, then return(): the feeding stops and the slice's file is closed.
    for await (const chunk of sliceTar(gz.decompressingTo(digestOf(layer)), true)) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    const open = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === gz.path;
      } catch {
        return false;
      }
    });
    expect(open).toEqual([]);
  });
});
