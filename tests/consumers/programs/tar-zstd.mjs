// @pd/tar alone, as an ES module bundle with no createRequire banner: a gzip and a zstd layer
// from in-memory content, their digests printed as JSON.
import { compressLayer, tarContents } from '@pd/tar';

const result = {};
for (const compression of ['gzip', 'zstd']) {
  const { stream, result: info } = compressLayer(tarContents({ '/a': 'pd '.repeat(100_000) }), {
    compression,
  });
  stream.resume();
  const { digest, diffId, mediaType } = await info;
  result[compression] = { digest, diffId, mediaType };
}
console.log(JSON.stringify(result));
