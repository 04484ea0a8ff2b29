import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, crc32, deflateRawSync, gunzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { collect, scratchDir, sha256 } from '../test/helpers.js';
import { gzipParallel } from './gzip-parallel.js';
import {
  compressLayer,
  decompress,
  detectCompression,
  TarFormatError,
  tarContents,
  writeLayerFile,
} from './index.js';

const base = scratchDir('pd-compress-');

async function* chunked(data: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let pos = 0;
  for (let i = 0; pos < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(pos, pos + n);
    pos += n;
  }
}

/** Compressible but not trivial: text with random words. */
function sample(size: number): Buffer {
  const words = randomBytes(size / 4)
    .toString('base64')
    .match(/.{1,7}/g)!;
  let s = '';
  for (let i = 0; s.length < size; i++) s += `${words[i % 97]} ${i % 13 ? '' : '\n'}`;
  return Buffer.from(s.slice(0, size));
}

describe('compressLayer', () => {
  const data = Buffer.concat([sample(900_000), randomBytes(300_000), sample(100_000)]);

  test.each(['gzip', 'zstd', 'none'] as const)(
    '%s: digests, sizes and round trip in one pass',
    async (compression) => {
      const { stream, result } = compressLayer(chunked(data, [1, 4096, 100_000, 7]), { compression });
      const out = await collect(stream);
      const info = await result;
      expect(info).toMatchObject({
        size: out.length,
        digest: sha256(out),
        diffId: sha256(data),
        uncompressedSize: data.length,
        compression,
      });
      expect(detectCompression(out)).toBe(compression);
      expect((await collect(decompress(out))).equals(data)).toBe(true);
      if (compression === 'gzip') {
        expect(info.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
        expect(gunzipSync(out).equals(data)).toBe(true);
      }
    },
  );

  test.each(['gzip', 'zstd'] as const)('%s output does not depend on input chunking', async (compression) => {
    const one = await collect(compressLayer(chunked(data, [data.length]), { compression }).stream);
    const many = await collect(compressLayer(chunked(data, [3, 65_536, 1_000_001]), { compression }).stream);
    expect(sha256(many)).toBe(sha256(one));
  });

  test('parallel gzip is one valid member at any block size', async () => {
    for (const blockSize of [1024, 32 * 1024, 128 * 1024]) {
      const out = await collect(gzipParallel(chunked(data, [50_000]), { blockSize }));
      expect(gunzipSync(out).equals(data)).toBe(true);
      // one member: exactly one header at the start
      expect(out.subarray(0, 4)).toEqual(Buffer.from([0x1f, 0x8b, 8, 0]));
    }
  });

  test('parallel gzip equals a sequential reference built from the same rules (no dependence on scheduling)', async () => {
    const parallel = await collect(gzipParallel(chunked(data, [77_777])));
    const block = 128 * 1024;
    const parts: Buffer[] = [Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3])];
    const starts: number[] = [];
    for (let pos = 0; pos + block <= data.length; pos += block) starts.push(pos);
    const tailStart = starts.length * block;
    for (const pos of [...starts, tailStart]) {
      const last = pos === tailStart;
      const chunk = data.subarray(pos, last ? data.length : pos + block);
      // A block all of random bytes (900 000 to 1 200 000) is stored; the others deflate at -6.
      // Stored blocks are as long as the output buffer lets them be: the whole block's worth.
      const random = pos >= 900_000 && pos + chunk.length <= 1_200_000;
      parts.push(
        deflateRawSync(chunk, {
          level: random ? 0 : 6,
          chunkSize: Math.max(65536, chunk.length + (chunk.length >> 8) + 1024),
          finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
          ...(pos > 0 ? { dictionary: data.subarray(pos - 32 * 1024, pos) } : {}),
        }),
      );
    }
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(data) >>> 0, 0);
    trailer.writeUInt32LE(data.length, 4);
    parts.push(trailer);
    expect(sha256(parallel)).toBe(sha256(Buffer.concat(parts)));
  });

  test('a block deflate cannot shrink is stored, not deflated; one whose bytes repeat within 32 KiB is deflated', async () => {
    const random = randomBytes(512 * 1024);
    const out = await collect(gzipParallel(chunked(random, [100_000])));
    expect(gunzipSync(out).equals(random)).toBe(true);
    // The first deflate block (after the 10-byte header): stored (BTYPE 00), and as long as a
    // stored block may be. zlib at -6 emits stored blocks of at most 16 KiB on such bytes.
    expect((out[10]! >> 1) & 3).toBe(0);
    const len = out.readUInt16LE(11);
    expect(out.readUInt16LE(13)).toBe(len ^ 0xffff);
    expect(len).toBeGreaterThan(16 * 1024);
    expect(out.length).toBeLessThan(random.length + 200);
    // 8 KiB of random bytes, over and over: no sample of 4 KiB repeats itself, but each repeats
    // what came 8 KiB before it.
    const unit = randomBytes(8 * 1024);
    const repeated = Buffer.concat(Array.from({ length: 64 }, () => unit));
    const packed = await collect(gzipParallel(chunked(repeated, [100_000])));
    expect(gunzipSync(packed).equals(repeated)).toBe(true);
    expect(packed.length).toBeLessThan(repeated.length / 10);
  });

  test.each(['gzip', 'zstd', 'none'] as const)('%s: empty input', async (compression) => {
    const { stream, result } = compressLayer(chunked(Buffer.alloc(0), [1]), { compression });
    const out = await collect(stream);
    expect((await collect(decompress(out))).length).toBe(0);
    expect((await result).diffId).toBe(sha256(Buffer.alloc(0)));
  });

  test('docker family media types', async () => {
    const { stream, result } = compressLayer(tarContents({ '/a': 'b' }), {
      compression: 'zstd',
      family: 'docker',
    });
    await collect(stream);
    expect((await result).mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.zstd');
  });
});

describe('writeLayerFile', () => {
  test('writes through a temp file and renames', async () => {
    const path = join(base, 'layer.tar.gz');
    const info = await writeLayerFile(tarContents({ '/hello': 'world' }), path);
    expect(sha256(readFileSync(path))).toBe(info.digest);
    expect(readdirSync(base).filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  test('leaves nothing behind on failure', async () => {
    const path = join(base, 'broken.tar.gz');
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1000);
      throw new Error('source broke');
    }
    await expect(writeLayerFile(failing(), path)).rejects.toThrow('source broke');
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(base).filter((n) => n.includes('broken'))).toEqual([]);
  });
});

describe('decompress', () => {
  test('rejects corrupt gzip and zstd with TarFormatError', async () => {
    const gz = await collect(compressLayer(chunked(sample(200_000), [4096]), { compression: 'gzip' }).stream);
    const bad = Buffer.from(gz);
    bad.fill(0x55, 100, 400);
    await expect(collect(decompress(bad))).rejects.toBeInstanceOf(TarFormatError);
    const zst = await collect(
      compressLayer(chunked(sample(200_000), [4096]), { compression: 'zstd' }).stream,
    );
    await expect(collect(decompress(zst.subarray(0, zst.length - 50)))).rejects.toBeInstanceOf(
      TarFormatError,
    );
  });
});
