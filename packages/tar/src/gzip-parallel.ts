import { promisify } from 'node:util';
import { constants, crc32, deflateRaw, type ZlibOptions } from 'node:zlib';
import { compressBlocks } from './blocks.js';

const deflateRawAsync = promisify<Buffer, ZlibOptions, Buffer>(deflateRaw);

/** pigz's default block size: large enough that the 32 KiB dictionary costs little ratio. */
export const GZIP_BLOCK = 128 * 1024;
const WINDOW = 32 * 1024;

/**
 * Fixed gzip header: no name, mtime 0, OS "Unix" — the same bytes on every machine.
 * XFL stays 0 because it is only a hint and varies between implementations anyway.
 */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);

/**
 * gzip in the style of pigz: each block is raw-deflated independently (Node runs zlib calls in
 * the libuv threadpool, so several blocks compress on several cores at once), primed with the
 * previous block's last 32 KiB as dictionary so the ratio stays close to a single stream, and
 * ended with a sync flush so the pieces concatenate into one valid deflate stream. The last
 * block is finished normally; the CRC-32 and length trailer are computed on the way in.
 */
export async function* gzipParallel(
  source: AsyncIterable<Buffer>,
  options: { level?: number; blockSize?: number; inFlight?: number } = {},
): AsyncGenerator<Buffer> {
  const level = options.level ?? 6;
  const blockSize = options.blockSize ?? GZIP_BLOCK;
  let crc = 0;
  let length = 0;
  yield HEADER;
  yield* compressBlocks(
    source,
    blockSize,
    options.inFlight ?? 4,
    ({ data, previous, last }) =>
      deflateRawAsync(data, {
        level,
        ...(previous ? { dictionary: previous.subarray(Math.max(0, previous.length - WINDOW)) } : {}),
        finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
        // One threadpool job per block: the output buffer holds the whole compressed block.
        chunkSize: Math.max(64 * 1024, data.length + (data.length >> 8) + 1024),
      }),
    (block) => {
      crc = crc32(block, crc);
      length += block.length;
    },
  );
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  yield trailer;
}
