import { repositoryScope, ScopeSet } from './auth/scope.js';
import type { Requester } from './requester.js';
import type { Logger } from './transport/http.js';
import type { RetryPolicy } from './transport/retry.js';
import type { Semaphore } from './transport/semaphore.js';
import type { ProgressEvent, ProgressListener, RepositoryLike } from './types.js';

/** What the operation modules share; built once per RegistryClient. */
export interface Context {
  requester: Requester;
  policy: RetryPolicy;
  logger: Logger | undefined;
  maxManifestSize: number;
  /**
   * Per-registry limits on concurrent blob transfers. Downloads and uploads have separate pools
   * so that copying a blob within one registry (download feeding an upload) cannot deadlock.
   */
  downloads(registry: string): Semaphore;
  uploads(registry: string): Semaphore;
  /** Registries seen ignoring a body sent with `POST ...?digest=` (so it is not sent again). */
  noSinglePost: Set<string>;
  /** Call the per-call listener and the client-wide one. */
  progress(listener: ProgressListener | undefined, event: ProgressEvent): void;
}

export function pullScope(repo: RepositoryLike): ScopeSet {
  return new ScopeSet([repositoryScope(repo.repository, 'pull')]);
}

export function pushScope(repo: RepositoryLike): ScopeSet {
  return new ScopeSet([repositoryScope(repo.repository, 'pull', 'push')]);
}

export function deleteScope(repo: RepositoryLike): ScopeSet {
  return new ScopeSet([repositoryScope(repo.repository, 'delete')]);
}

/** `/v2/<repository>/<rest>` (repository paths contain only URL-safe characters). */
export function apiPath(repo: RepositoryLike, rest: string): string {
  return `/v2/${repo.repository}/${rest}`;
}
