import { compressBlocks } from './blocks.js';
import { compressionPool } from './pool.js';

/**
 * Independent frames of this size: a sequence of zstd frames is one valid zstd stream, so the
 * frames can be compressed in parallel. 4 MiB keeps the ratio within ~1% of a single stream.
 */
export const ZSTD_BLOCK = 4 << 20;

/** A zstd stream of independent frames, compressed in parallel; byte-identical whatever the core count. */
export async function* zstdParallel(
  source: AsyncIterable<Buffer>,
  options: { level?: number; blockSize?: number } = {},
): AsyncGenerator<Buffer> {
  const level = options.level ?? 3;
  if (!Number.isInteger(level) || level < -7 || level > 22)
    throw new RangeError(`zstd level must be -7..22, got ${level}`);
  const pool = compressionPool();
  let frames = 0;
  yield* compressBlocks(
    source,
    { blockSize: options.blockSize ?? ZSTD_BLOCK, inFlight: pool.size + 1 },
    ({ data, last }) => {
      // An empty final block adds nothing, except that an empty input still needs one frame.
      if (last && data.length === 0 && frames > 0) return Promise.resolve(Buffer.alloc(0));
      frames++;
      return pool.run({ op: 'zstd', data, level });
    },
  );
}
