export {
  type ArtifactFile,
  ArtifactFormatError,
  artifactManifest,
  DEFAULT_ARTIFACT_FILE_TYPE,
  EMPTY_CONFIG,
  type PullArtifactOptions,
  type PulledArtifact,
  type PulledFile,
  type PushArtifactOptions,
  type PushedArtifact,
  pullArtifact,
  pushArtifact,
  TITLE_ANNOTATION,
  UnsafeArtifactTitleError,
} from './artifact.js';
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
export { ComputedImage, type Family, type ImageParts, loadParts } from './computed.js';
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
export {
  AmbiguousImageError,
  ArchiveFormatError,
  CompressedArchiveError,
  type DockerArchiveEntryImage,
  DockerArchiveImage,
  type DockerArchiveInput,
  type DockerArchiveLayout,
  IMAGE_NAME_ANNOTATION,
  type ImageFileFormat,
  ImageNotFoundError,
  LayoutError,
  type ManifestPolicy,
  MissingMemberError,
  REF_NAME_ANNOTATION,
  type ReadDockerArchiveOptions,
  type ReadLayoutOptions,
  readDockerArchive,
  readDockerArchiveAll,
  readOciArchive,
  readOciLayout,
  type SelfVerifying,
  sniffFormat,
  TruncatedArchiveError,
  UnsafeMemberError,
  VERIFIED_STREAMS,
  type WriteDockerArchiveOptions,
  type WriteOciOptions,
  writeDockerArchive,
  writeOciArchive,
  writeOciLayout,
} from './formats/index.js';
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
export { type LayerSources, type LayerSourcesOptions, layerSources } from './layers/sources.js';
export { BlobLocations } from './locations.js';
export * from './model.js';
export { type Addendum, type AppendOptions, appendLayers } from './mutate/append.js';
export { type ConfigEdits, type ConfigMapper, editConfig, type KeySet, mapConfig } from './mutate/config.js';
export {
  compressAll,
  compressLayers,
  convertMediaTypes,
  type RecodeOptions,
  recodeLayers,
  withoutZstdLayers,
} from './mutate/convert.js';
export { type FlattenOptions, flatten } from './mutate/flatten.js';
export {
  addToIndex,
  annotateIndex,
  type IndexAnnotations,
  type IndexEntry,
  type IndexSelector,
  type NewIndexOptions,
  newIndex,
  removeFromIndex,
} from './mutate/index-edit.js';
export { type ChildMapper, type MapIndexOptions, mapIndex, mapIndexImages } from './mutate/index-map.js';
export { hasNullFields, withoutNullFields } from './mutate/null-fields.js';
export { type RebaseOptions, rebase } from './mutate/rebase.js';
export { type LayerSelector, removeLayer } from './mutate/remove.js';
export type { CreatedOption } from './mutate/time.js';
export { type OpenImageOptions, openFile, openImage, openSource } from './open.js';
export { imageForPlatform, imagePlatform } from './platform.js';
export {
  type AttachOptions,
  attach,
  type CopiedReferrer,
  type CopyReferrersOptions,
  copyManifest,
  copyReferrers,
  copyReferrersBetween,
  listReferrers,
  type ReferrerCallOptions,
  type ReferrerList,
  type ReferrerLocation,
  resolveDescriptor,
} from './referrers.js';
/**
 * Images and indexes in a registry, read lazily (the manifest; the config when asked for; no layer bytes).
 * `remote.image(ref, opts)` gives one image (from an index, the entry for a platform),
 * `remote.get(ref, opts)` whatever `ref` names, `remote.index(ref, opts)` an index.
 */
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
  type SyncedImage,
  type SyncOptions,
  type SyncReport,
  type SyncSource,
  SyncSourceError,
  type SyncTarget,
  type SyncTask,
  sync,
} from './sync/sync.js';
export type { TagFilter } from './sync/tags.js';
export {
  formatImageSource,
  type ImageDestination,
  type ImageSelector,
  type ImageSource,
  type ImageTransport,
  type LocalImageSource,
  type ParseSourceOptions,
  parseImageDestination,
  parseImageSource,
} from './transports.js';
