// Defined in @pd/oci-types (configs' `created` use it too); here as well, where tars use it.
export { sourceDateEpoch } from '@pd/oci-types';
export {
  BatchedFileWriter,
  FileSlice,
  type FileSliceOptions,
  pipeInto,
  READ_CHUNK,
  readFileStream,
  writeAll,
  writeStreamToFile,
} from './batched-file.js';
export { type CompressOptions, compressLayer, type LayerInfo, writeLayerFile } from './compress.js';
export type { ContentEntry, Contents, ContentValue } from './contents.js';
export { type PathPair, tarContents, tarDirectory, tarPaths } from './create.js';
export { decompress, detectCompression, type LayerInput } from './decompress.js';
export { TarFormatError, UnsafePathError } from './errors.js';
export { applyLayers, type ExtractOptions, type ExtractStats, extract, type LayerSource } from './extract.js';
export { flattenLayers } from './flatten.js';
export { globMatcher, globToRegExp } from './glob.js';
export type { EntryType, TarHeader } from './header.js';
export type { ProgressEvent, TarFilter, TarOptions } from './options.js';
export { type OverlayTarOptions, tarOverlayUpper, XattrToolMissingError } from './overlay-diff.js';
export type { Owner } from './plan.js';
export { readEntries, type TarEntry } from './reader.js';
export {
  isOpaqueWhiteout,
  isWhiteout,
  OPAQUE_WHITEOUT,
  opaqueWhiteoutPath,
  WHITEOUT_PREFIX,
  type WhiteoutTarget,
  whiteoutPath,
  whiteoutTarget,
} from './whiteout.js';
export { FileChangedError } from './writer.js';
