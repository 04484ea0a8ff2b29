export {
  type Challenge,
  challengesOf,
  parseChallenges,
  UnsupportedAuthSchemeError,
} from './auth/challenge.js';
export { parseScope, type Scope, ScopeSet } from './auth/scope.js';
export type { BlobHead, GetBlobOptions } from './blobs.js';
export { type PingResult, RegistryClient, type RegistryClientOptions } from './client.js';
export {
  DOCKER_HUB_CONFIG_KEY,
  type DockerAuthEntry,
  type DockerConfigFile,
  dockerConfigPath,
} from './credentials/docker-config.js';
export { CredentialHelperError } from './credentials/helpers.js';
export type { Credential, CredentialsOption } from './credentials/store.js';
export { apiHost, DOCKER_HUB_API } from './endpoint.js';
export {
  AuthError,
  NotFoundError,
  RateLimitError,
  RegistryConnectionError,
  RegistryError,
  type RegistryErrorDetail,
  UploadSourceError,
} from './errors.js';
export { type LoginResult, normalizeRegistry } from './login.js';
export {
  DEFAULT_MAX_MANIFEST_SIZE,
  type GetManifestOptions,
  type Manifest,
  type ManifestHead,
} from './manifests.js';
export { type Referrers, type ReferrersOptions, referrersTag } from './referrers.js';
export type { ListOptions } from './tags.js';
export { type Logger, type ProxyOptions, proxyFromEnv, type TimeoutOptions } from './transport/http.js';
export { parseRetryAfter, type RetryOptions } from './transport/retry.js';
export type {
  CallOptions,
  ProgressEvent,
  ProgressListener,
  ReferenceLike,
  RepositoryLike,
  TransferOptions,
} from './types.js';
export type { OpenSource, UploadOptions, UploadResult } from './uploads.js';
