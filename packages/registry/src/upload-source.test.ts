import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { type Digest, DigestMismatchError, SizeMismatchError } from '@pd/oci-types';
import { describe, expect, test } from 'vitest';
import { UploadSourceError } from './errors.js';
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

  // 4 MiB in 64 KiB chunks, handed over at once: the source runs far ahead of the request.
  const CHUNK = 64 * 1024;
  const big = Buffer.alloc(64 * CHUNK);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
  const bigDigest = `sha256:${createHash('sha256').update(big).digest('hex')}` as Digest;
  const chunks = () =>
    Array.from({ length: 64 }, (_, i) => Buffer.from(big.subarray(i * CHUNK, (i + 1) * CHUNK)));

  test('the body hands on the source chunks themselves, never joined into new buffers', async () => {
    const given = chunks();
    // A byte stream holding all of it at once (as a blob download does when the upload lags).
    const source = new Readable({
      highWaterMark: big.length,
      read() {
        for (const c of given) this.push(c);
        this.push(null);
      },
    });
    const src = new UploadSource(() => source, 'sha256', { digest: bigDigest, what: 't' });
    await src.reset();
    const body = src.rest(() => {});
    // Let the source fill its queue before the body is read at all.
    await new Promise((r) => setTimeout(r, 20));
    // Read as undici reads a request body: by its `data` events.
    const out: Buffer[] = [];
    body.on('data', (c: Buffer) => out.push(c));
    await new Promise((r) => body.once('end', r));
    expect(Buffer.concat(out).equals(big)).toBe(true);
    expect(out.map((c) => given.findIndex((g) => g.buffer === c.buffer))).toEqual(given.map((_, i) => i));
    expect(src.result()).toEqual({ digest: bigDigest, size: big.length });
  });

  test('a source running ahead is paused at about 1 MiB queued', async () => {
    let pulled = 0;
    let i = 0;
    const all = chunks();
    const source = new Readable({
      read() {
        const c = all[i++];
        if (c) pulled += c.length;
        this.push(c ?? null);
      },
    });
    const src = new UploadSource(() => source, 'sha256', { digest: bigDigest, what: 't' });
    await src.reset();
    await new Promise((r) => setTimeout(r, 50));
    // The queue's limit plus what the stream itself buffers (its 16 KiB highWaterMark, one chunk).
    expect(pulled).toBeGreaterThanOrEqual(1 << 20);
    expect(pulled).toBeLessThanOrEqual((1 << 20) + 2 * CHUNK);
    let got = 0;
    for await (const c of src.rest(() => {})) got += (c as Buffer).length;
    expect(got).toBe(big.length);
  });

  test('a source that fails midway fails the body with its own error', async () => {
    const src = new UploadSource(
      () =>
        Readable.from(
          (async function* () {
            yield big.subarray(0, CHUNK);
            throw new Error('disk gone');
          })(),
        ),
      'sha256',
      { digest: bigDigest, what: 'blob x' },
    );
    await src.reset();
    const err = await (async () => {
      for await (const _ of src.rest(() => {}));
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadSourceError);
    expect((err as Error).message).toContain('blob x');
  });
});
