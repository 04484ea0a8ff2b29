export { type Challenge, challengesOf, UnsupportedAuthSchemeError } from './auth/challenge.js';
export type { BlobHead, GetBlobOptions } from './blobs.js';
export { type PingResult, RegistryClient, type RegistryClientOptions } from './client.js';
export { CredentialHelperError } from './credentials/helpers.js';
export type { Credential, CredentialsOption } from './credentials/store.js';
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
  type PutManifestOptions,
} from './manifests.js';
export {
  type PutReferrerOptions,
  type PutReferrerResult,
  type Referrers,
  type ReferrersOptions,
  referrersTag,
} from './referrers.js';
export type { ListOptions } from './tags.js';
export { type Logger, type ProxyOptions, proxyFromEnv, type TimeoutOptions } from './transport/http.js';
export type { RetryOptions } from './transport/retry.js';
export type {
  CallOptions,
  ProgressEvent,
  ProgressListener,
  ReferenceLike,
  RepositoryLike,
  TransferOptions,
} from './types.js';
export type { OpenSource, UploadOptions, UploadResult } from './uploads.js';
