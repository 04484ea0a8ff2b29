import { randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DigestMismatchError, digestOf, SizeMismatchError } from '@pd/oci-types';
import { archive, paxEntry, rawEntry } from '@pd/test-fixtures';
import { afterAll, describe, expect, test } from 'vitest';
import { collect, describeTree } from '../test/helpers.js';
import { FileSlice } from './batched-file.js';
import { extract } from './extract.js';

const base = mkdtempSync(join(tmpdir(), 'pd-file-slice-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

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
