import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { type Digest, DigestMismatchError, SizeMismatchError } from '@pd/oci-types';
import { describe, expect, test } from 'vitest';
import { UploadSource } from './upload-source.js';

const data = Buffer.from('abcdefghijklmnopqrstuvwxyz'.repeat(1000));
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
const open = () => Readable.from([data.subarray(0, 7000), data.subarray(7000, 7001), data.subarray(7001)]);

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('UploadSource', () => {
  test('chunks of exact size, across the source pieces; digest at the end', async () => {
    const src = new UploadSource(open, 'sha256', { digest, size: data.length, what: 't' });
    await src.reset();
    const sizes: number[] = [];
    for (let c = await src.read(4096); c; c = await src.read(4096)) sizes.push(c.length);
    expect(sizes).toEqual([4096, 4096, 4096, 4096, 4096, 4096, 1424]);
    expect(src.result()).toEqual({ digest, size: data.length });
  });

  test('skip then rest: the body is the tail, the digest covers everything', async () => {
    const src = new UploadSource(open, 'sha256', { what: 't' });
    await src.reset();
    await src.skipTo(7000);
    const tail = await collect(src.rest(() => {}));
    expect(tail.equals(data.subarray(7000))).toBe(true);
    expect(src.result()).toEqual({ digest, size: data.length });
  });

  test('a source that does not match fails before its last bytes leave', async () => {
    const wrong = `sha256:${'0'.repeat(64)}` as Digest;
    const src = new UploadSource(open, 'sha256', { digest: wrong, what: 'blob x' });
    await src.reset();
    let got = 0;
    const err = await (async () => {
      for await (const c of src.rest(() => {})) got += (c as Buffer).length;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect(got).toBeLessThan(data.length);
    const short = new UploadSource(open, 'sha256', { size: data.length + 1, what: 'blob x' });
    await short.reset();
    await expect(short.drain()).rejects.toBeInstanceOf(SizeMismatchError);
    const long = new UploadSource(open, 'sha256', { size: 10, what: 'blob x' });
    await long.reset();
    await expect(long.read(100)).rejects.toBeInstanceOf(SizeMismatchError);
  });
});
