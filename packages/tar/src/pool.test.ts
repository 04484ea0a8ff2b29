import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';

// The zstd library module stands in for a bundle or install where it cannot load: gzip must not
// care, and zstd must fail with a typed error, then work once the library loads.
let failLoad = true;
vi.mock('./zstd-library.js', async (original) => {
  const real = await original<typeof import('./zstd-library.js')>();
  return {
    zstdLibrarySource: vi.fn(() => {
      if (failLoad) throw new Error('no zstd library here');
      return real.zstdLibrarySource();
    }),
  };
});

const { CompressionPool } = await import('./pool.js');
const { zstdLibrarySource } = await import('./zstd-library.js');

afterEach(() => {
  failLoad = true;
});

describe('CompressionPool and the zstd library', () => {
  it('gzip jobs never ask for the zstd library', async () => {
    const pool = new CompressionPool(2);
    const data = Buffer.from('pd '.repeat(10_000));
    const outs = await Promise.all(
      [0, 1, 2].map(() =>
        pool.run({ op: 'deflate', data: Buffer.from(data), dictionary: undefined, level: 6, last: true }),
      ),
    );
    for (const out of outs) expect(inflateRawSync(out).equals(data)).toBe(true);
    expect(outs[0]!.equals(deflateRawSync(data, { level: 6 }))).toBe(true);
    expect(zstdLibrarySource).not.toHaveBeenCalled();
  });

  it('a zstd job asks for it once; a failure is a typed error, and a later job tries again', async () => {
    const pool = new CompressionPool(2);
    const err = await pool.run({ op: 'zstd', data: Buffer.from('x'), level: 3 }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'COMPRESSION',
      message: 'zstd is not available: no zstd library here',
    });

    failLoad = false;
    const frames = await Promise.all(
      [0, 1, 2, 3].map(() => pool.run({ op: 'zstd', data: Buffer.from('pd '.repeat(1000)), level: 3 })),
    );
    // zstd frame magic number, little-endian 0xFD2FB528.
    for (const f of frames) expect(f.readUInt32LE(0)).toBe(0xfd2fb528);
    expect(vi.mocked(zstdLibrarySource)).toHaveBeenCalledTimes(2);
  });
});
