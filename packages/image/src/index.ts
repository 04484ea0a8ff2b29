export {
  BlobCache,
  type CacheEntry,
  CorruptBlobError,
  defaultCacheDir,
  type OpenOptions as CacheOpenOptions,
  type PruneOptions,
  type PruneResult,
} from './cache.js';
export { closeDefaultClient, defaultClient } from './client.js';
export {
  ComputedImage,
  type Family,
  familyOf,
  type ImageParts,
  loadParts,
  serializeConfig,
} from './computed.js';
export {
  CacheMissError,
  ImageSourceSyntaxError,
  InconsistentImageError,
  InvalidMutationError,
  LayerNotFoundError,
  MissingReferenceError,
  NoSuchImageFileError,
  NotBasedOnError,
  RunnerMissingError,
  UnknownImageSourceError,
} from './errors.js';
export * from './formats/index.js';
export {
  buildLayer,
  type LayerBuildOptions,
  type LayerFromPathOptions,
  layerFromContents,
  layerFromDir,
  layerFromPaths,
  layerFromTarball,
} from './layers/built.js';
export { KnownLayer, type KnownLayerInit } from './layers/known.js';
export { RecompressedLayer, type RecompressOptions } from './layers/recompressed.js';
export { RemoteLayer, type RemoteLayerInit } from './layers/remote.js';
export * from './model.js';
export { type Addendum, type AppendOptions, appendLayers } from './mutate/append.js';
export {
  type ConfigEdits,
  type ConfigMapper,
  editConfig,
  type KeySet,
  mapConfig,
  setEnvValue,
  unsetEnvValue,
} from './mutate/config.js';
export {
  compressAll,
  compressLayers,
  convertMediaTypes,
  mapIndexImages,
  type RecodeOptions,
  recodeLayers,
  withoutZstdLayers,
} from './mutate/convert.js';
export { type FlattenOptions, flatten } from './mutate/flatten.js';
export { historyAligned, historyIndexOfLayer } from './mutate/history.js';
export { hasNullFields, withoutNullFields } from './mutate/null-fields.js';
export { mergeContainerConfig, type RebaseOptions, rebase } from './mutate/rebase.js';
export { type LayerSelector, removeLayer } from './mutate/remove.js';
export { type CreatedOption, createdTimestamp } from './mutate/time.js';
export { type OpenImageOptions, openFile, openImage, openSource } from './open.js';
export { imageForPlatform } from './platform.js';
export * as remote from './remote.js';
export { RemoteImage, type RemoteImageOptions, RemoteIndex, type RemoteOptions } from './remote.js';
export {
  getImageRunner,
  type ImageRunner,
  type ImageRunOptions,
  type ImageRunResult,
  runImage,
  setImageRunner,
} from './runner.js';
export { type ScratchOptions, scratch } from './scratch.js';
export {
  type AddLayerOptions,
  EditableImage,
  Image,
  type PullOptions,
  type WriteFormat,
  type WriteOptions,
} from './seed.js';
export { type PushOptions, type PushResult, push } from './sinks/push.js';
export {
  formatImageSource,
  type ImageDestination,
  type ImageSelector,
  type ImageSource,
  type ImageTransport,
  type LocalImageSource,
  looksLikePath,
  type ParseSourceOptions,
  parseImageDestination,
  parseImageSource,
  selectorText,
} from './transports.js';
