// Path globs live in @pd/tar (@pd/build's layer excludes use them without conda); kept here for compatibility.
export { globMatcher, globToRegExp } from '@pd/tar';
export { condaCacheDir, pdCacheDir } from './cache-dir.js';
export {
  type Channel,
  type ChannelOptions,
  DEFAULT_CHANNEL_ALIAS,
  DEFAULT_CHANNELS,
  type ParsedSpec,
  parseSpec,
  resolveChannels,
  specName,
} from './channels.js';
export { type EnvironmentYml, readEnvironmentYml } from './environment-yml.js';
export {
  ChannelError,
  EnvironmentFileError,
  PackageChecksumError,
  PackageFormatError,
  PipNotSupportedError,
  PrefixTooLongError,
  SolveError,
  UnsafeLinkError,
} from './errors.js';
export { explicitLockfilePlatform, readExplicitLockfile } from './explicit-lockfile.js';
export {
  type ExtractPackageOptions,
  extractPackage,
  openTarBz2,
  openZipMember,
  readZipDirectory,
  type ZipMember,
} from './extract/index.js';
export { DEFAULT_VIRTUAL_PACKAGES, type VirtualPackage } from './fetch-shim.js';
export {
  buildCondaImage,
  type CondaBuildReport,
  type CondaEnvironmentInput,
  type CondaImage,
  type CondaImageOptions,
  resolveEnvironment,
} from './image.js';
export {
  type CondaEnvironment,
  type CondaLayer,
  type CondaLayerOptions,
  type CondaLayersResult,
  condaLayers,
  DEFAULT_EXCLUDE,
} from './layers.js';
export {
  condaHistory,
  type IndexJson,
  type LinkedPackage,
  type LinkOptions,
  linkPackage,
} from './link/index.js';
export { dependencyOrder } from './order.js';
export {
  type FetchOptions,
  type FetchPackagesOptions,
  fetchPackages,
  PackageCache,
} from './package-cache.js';
export type { ProgressEvent } from './progress.js';
export { type CondaPackageRecord, parseFilename, stemOf } from './record.js';
export { RepodataCache, type RepodataCacheOptions, type RepodataCacheStats } from './repodata-cache.js';
export { type Solution, type SolveOptions, solve } from './solve.js';
