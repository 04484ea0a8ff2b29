import { DOCKER_HUB, parseReference, type Reference } from '@pd/oci-types';

/**
 * Progress of one blob transfer. `id` is the blob's digest (an upload whose digest is not known
 * yet uses its `label`, else a description).
 */
export interface ProgressEvent {
  id: string;
  /** The call's `label`, if it had one. */
  label?: string | undefined;
  /** Bytes moved so far. */
  done: number;
  /** Bytes expected, when known. */
  total?: number | undefined;
  /** `download`, `upload`, `exists` (already there), `mounted` or `done`. */
  phase?: string | undefined;
}

/** A callback that receives each `ProgressEvent` of a transfer. */
export type ProgressListener = (event: ProgressEvent) => void;

/** Any `{ registry, repository }`; a `Reference` fits. */
export interface RepositoryLike {
  registry: string;
  repository: string;
}

/** A repository plus tag and/or digest; a `Reference` fits. */
export interface ReferenceLike extends RepositoryLike {
  tag?: string | undefined;
  digest?: string | undefined;
}

/** Options every `RegistryClient` method takes. */
export interface CallOptions {
  /** Cancels the call (and any retry or transfer it has in flight). */
  signal?: AbortSignal | undefined;
}

/** Options of the calls that move blob bytes: cancellation and progress. */
export interface TransferOptions extends CallOptions {
  /** Progress of this transfer (the client's own `onProgress` hears it too). */
  onProgress?: ProgressListener | undefined;
  /** Shown in progress events instead of the digest (e.g. `layer 2/5`). */
  label?: string | undefined;
}

/** Normalize a repository argument: strings are parsed like docker does (`ubuntu` → docker.io/library/ubuntu). */
export function toRepository(repo: RepositoryLike | string): RepositoryLike {
  if (typeof repo === 'string') {
    const r = parseReference(repo, { defaultTag: false });
    return { registry: r.registry, repository: r.repository };
  }
  // Docker Hub's official images live under library/ even when named without it.
  if (repo.registry === DOCKER_HUB && !repo.repository.includes('/')) {
    return { registry: repo.registry, repository: `library/${repo.repository}` };
  }
  return { registry: repo.registry, repository: repo.repository };
}

/**
 * A mount source: a full name (`host/repo`, a `RepositoryLike`) or a bare repository path
 * (`team/base`), which means the same registry as the target, as the API's `from=` does.
 */
export function toSourceRepository(target: RepositoryLike, from: RepositoryLike | string): RepositoryLike {
  if (typeof from !== 'string') return toRepository(from);
  const first = from.split('/')[0] ?? '';
  const hasHost = from.includes('/') && (/[.:]/.test(first) || first === 'localhost');
  return hasHost ? toRepository(from) : toRepository({ registry: target.registry, repository: from });
}

export function toReference(ref: ReferenceLike | string): ReferenceLike {
  if (typeof ref === 'string') return parseReference(ref) satisfies Reference;
  return { ...toRepository(ref), tag: ref.tag, digest: ref.digest };
}

/** `registry/repository` for messages. */
export function repoName(repo: RepositoryLike): string {
  return `${repo.registry}/${repo.repository}`;
}

/** `registry/repository:tag@digest` for messages. */
export function refName(ref: ReferenceLike): string {
  return `${repoName(ref)}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** What to ask the registry for: digest when pinned, else the tag, else `latest`. */
export function identifier(ref: ReferenceLike): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/** Short digest for labels: `sha256:0123456789ab`. */
export function shortDigest(d: string): string {
  const colon = d.indexOf(':');
  return colon === -1 ? d.slice(0, 12) : d.slice(0, colon + 13);
}
