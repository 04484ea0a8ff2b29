import {
  type Descriptor,
  type Digest,
  MediaType,
  parseDigest,
  ValidationError,
  validateDescriptor,
} from '@pd/oci-types';
import { apiPath, type Context, pullScope } from './context.js';
import { NotFoundError, RegistryError } from './errors.js';
import { getManifest, putManifestFull } from './manifests.js';
import { abandon, header, readText } from './transport/http.js';
import { sleep } from './transport/retry.js';
import { type CallOptions, type ReferenceLike, type RepositoryLike, repoName, shortDigest } from './types.js';

/** Options of `referrers`. */
export interface ReferrersOptions extends CallOptions {
  /** Only artifacts of this type (filtered by the registry when it can, else here). */
  artifactType?: string | undefined;
}

/** The manifests whose `subject` is a given digest, as `referrers` returns them. */
export interface Referrers {
  /** Their descriptors, only those of the asked `artifactType` when one was given. */
  manifests: Descriptor[];
  /** `api`: the registry's referrers endpoint; `tag`: the `<alg>-<hex>` tag-schema fallback. */
  source: 'api' | 'tag';
}

/** The tag under which clients record referrers on registries without the referrers API. */
export function referrersTag(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}`.slice(0, 128);
}

/**
 * Manifests whose `subject` is `digest` (OCI distribution 1.1). Registries without the referrers
 * endpoint answer 404; then the tag-schema index `<alg>-<hex>` is read instead (absent: none).
 */
export async function referrers(
  ctx: Context,
  repo: RepositoryLike,
  digest: string,
  opts: ReferrersOptions = {},
): Promise<Referrers> {
  parseDigest(digest);
  const what = `referrers of ${shortDigest(digest)} in ${repoName(repo)}`;
  const query = opts.artifactType ? `?artifactType=${encodeURIComponent(opts.artifactType)}` : '';
  const api = await ctx.requester.call(
    {
      registry: repo.registry,
      method: 'GET',
      path: apiPath(repo, `referrers/${digest}${query}`),
      headers: { accept: MediaType.OciIndex },
      scopes: pullScope(repo),
      ok: [200, 404, 405],
      subject: { registry: repo.registry, repository: repo.repository, what, action: 'pull' },
      signal: opts.signal,
    },
    async (res) => {
      if (res.status !== 200) {
        abandon(res.body);
        return undefined;
      }
      const text = await readText(res.body, ctx.maxManifestSize);
      const filtered = (header(res.headers, 'oci-filters-applied') ?? '')
        .split(',')
        .some((f) => f.trim() === 'artifactType');
      return { text, filtered };
    },
  );
  if (api) {
    const manifests = descriptorsOf(api.text, what, repo.registry);
    return { manifests: api.filtered ? manifests : filter(manifests, opts.artifactType), source: 'api' };
  }

  try {
    const index = await getManifest(
      ctx,
      { ...repo, tag: referrersTag(digest) },
      { signal: opts.signal, accept: [MediaType.OciIndex] },
    );
    return {
      manifests: filter(descriptorsOf(index.bytes.toString('utf8'), what, repo.registry), opts.artifactType),
      source: 'tag',
    };
  } catch (e) {
    if (e instanceof NotFoundError) return { manifests: [], source: 'tag' };
    throw e;
  }
}

function filter(manifests: Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType ? manifests.filter((m) => m.artifactType === artifactType) : manifests;
}

function descriptorsOf(text: string, what: string, registry: string): Descriptor[] {
  let doc: { manifests?: unknown };
  try {
    doc = JSON.parse(text) as { manifests?: unknown };
  } catch {
    throw new RegistryError(`${what}: the registry returned malformed JSON`, { registry });
  }
  if (doc.manifests === undefined || doc.manifests === null) return [];
  if (!Array.isArray(doc.manifests))
    throw new ValidationError('referrers index', '$.manifests', 'is not an array');
  return doc.manifests.map((m) => validateDescriptor(m));
}

/** Options of `putReferrer` (and of the tag-schema merge behind it). */
export interface PutReferrerOptions extends CallOptions {
  /**
   * How long to wait after writing the tag-schema index before reading it back to check that
   * no concurrent writer replaced it with a stale copy (default 250 ms, raised to three times the
   * time one read-modify-write took).
   */
  settleMs?: number | undefined;
  /** Read-merge-write rounds before giving up (default 20). */
  maxAttempts?: number | undefined;
}

/** What `putReferrer` did. */
export interface PutReferrerResult {
  /** Digest of the referrer manifest. */
  digest: Digest;
  /** `api`: the registry indexed the subject itself (`OCI-Subject`); `tag`: the tag-schema index was updated. */
  via: 'api' | 'tag';
  /** Writes of the tag-schema index it took (0 with the API). */
  writes: number;
}

/**
 * PUT a manifest that has a `subject` and make it findable as a referrer: a registry with the
 * referrers API says so with `OCI-Subject`; otherwise the descriptor is merged into the
 * `<alg>-<hex>` tag-schema index of the subject (see `addReferrerToTag`).
 */
export async function putReferrer(
  ctx: Context,
  repo: RepositoryLike,
  bytes: Uint8Array,
  mediaType: string,
  opts: PutReferrerOptions = {},
): Promise<PutReferrerResult> {
  const doc = parseReferrer(bytes);
  const put = await putManifestFull(
    ctx,
    { registry: repo.registry, repository: repo.repository },
    bytes,
    mediaType,
    opts,
  );
  if (put.subject) return { digest: put.digest, via: 'api', writes: 0 };
  const descriptor: Descriptor = {
    mediaType,
    digest: put.digest,
    size: bytes.length,
    ...(doc.artifactType ? { artifactType: doc.artifactType } : {}),
    ...(doc.annotations ? { annotations: doc.annotations } : {}),
  };
  const writes = await addReferrerToTag(ctx, repo, doc.subject, descriptor, opts);
  return { digest: put.digest, via: 'tag', writes };
}

/**
 * Merge `descriptor` into the tag-schema referrers index of `subject` (OCI distribution 1.1,
 * "Referrers Tag Schema"), safely under concurrent writers as far as the registry allows:
 * each write is conditional (`If-Match` on the ETag read, `If-None-Match: *` when the tag did not
 * exist), which registries that honour it turn into a 412 and a retry. Registries that ignore
 * conditional requests (distribution 2.8 does) let a writer holding a stale copy overwrite a
 * newer index, so after every write the index is read again after a settle delay, and re-merged
 * and rewritten while it lacks the descriptor. What remains: a writer whose read and write are
 * further apart than that delay can still drop an entry after its owner checked it; entries are
 * never lost by two writers that are both still checking. Returns the number of writes made.
 */
export async function addReferrerToTag(
  ctx: Context,
  repo: RepositoryLike,
  subject: string,
  descriptor: Descriptor,
  opts: PutReferrerOptions = {},
): Promise<number> {
  const ref: ReferenceLike = {
    registry: repo.registry,
    repository: repo.repository,
    tag: referrersTag(subject),
  };
  const what = `referrers tag index of ${shortDigest(subject)} in ${repoName(repo)}`;
  const maxAttempts = opts.maxAttempts ?? 20;
  let settle = opts.settleMs ?? 250;
  // From the read a merge is based on to its write: the window a concurrent writer can fall into.
  let readAt = Date.now();
  let current = await readTagIndex(ctx, ref, what, opts.signal);
  let writes = 0;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (!current.manifests.some((m) => m.digest === descriptor.digest)) {
      const merged = {
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [...current.manifests, descriptor],
      };
      try {
        await putManifestFull(ctx, ref, Buffer.from(JSON.stringify(merged)), MediaType.OciIndex, {
          signal: opts.signal,
          ...(current.etag ? { ifMatch: current.etag } : { ifNoneMatch: !current.exists }),
        });
        writes++;
      } catch (e) {
        // 412: someone wrote in between; read again and merge into theirs.
        if (!(e instanceof RegistryError && e.status === 412)) throw e;
        readAt = Date.now();
        current = await readTagIndex(ctx, ref, what, opts.signal);
        continue;
      }
      settle = Math.max(settle, 3 * (Date.now() - readAt));
    } else {
      return writes;
    }
    // A jitter keeps writers that collided once from colliding again in lock step.
    await sleep(settle * (1 + Math.random() / 2), opts.signal);
    readAt = Date.now();
    current = await readTagIndex(ctx, ref, what, opts.signal);
    if (current.manifests.some((m) => m.digest === descriptor.digest)) return writes;
  }
  throw new RegistryError(`${what}: still lost to concurrent writers after ${maxAttempts} attempts`, {
    registry: repo.registry,
    code: 'REFERRERS_CONFLICT',
    hint: 'retry the command; the referrer manifest itself was pushed',
  });
}

interface TagIndex {
  exists: boolean;
  etag: string | undefined;
  manifests: Descriptor[];
}

async function readTagIndex(
  ctx: Context,
  ref: ReferenceLike,
  what: string,
  signal: AbortSignal | undefined,
): Promise<TagIndex> {
  try {
    const got = await getManifest(ctx, ref, { signal, accept: [MediaType.OciIndex] });
    const manifests = descriptorsOf(got.bytes.toString('utf8'), what, ref.registry);
    // Entries are unique by digest: a duplicate left by an older client is kept once.
    const unique = [...new Map(manifests.map((m) => [m.digest, m])).values()];
    return { exists: true, etag: got.etag, manifests: unique };
  } catch (e) {
    if (e instanceof NotFoundError) return { exists: false, etag: undefined, manifests: [] };
    throw e;
  }
}

function parseReferrer(bytes: Uint8Array): {
  subject: string;
  artifactType?: string;
  annotations?: Record<string, string>;
} {
  let doc: {
    subject?: { digest?: unknown };
    artifactType?: unknown;
    config?: { mediaType?: unknown };
    annotations?: unknown;
  };
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof doc;
  } catch {
    throw new ValidationError('referrer manifest', '$', 'is not JSON');
  }
  const subject = doc.subject?.digest;
  if (typeof subject !== 'string') throw new ValidationError('referrer manifest', '$.subject', 'is missing');
  parseDigest(subject);
  // The spec: artifactType of the descriptor is the manifest's artifactType, else its config's media type.
  const artifactType =
    typeof doc.artifactType === 'string'
      ? doc.artifactType
      : typeof doc.config?.mediaType === 'string'
        ? doc.config.mediaType
        : undefined;
  const annotations =
    doc.annotations && typeof doc.annotations === 'object' && !Array.isArray(doc.annotations)
      ? (doc.annotations as Record<string, string>)
      : undefined;
  return {
    subject,
    ...(artifactType ? { artifactType } : {}),
    ...(annotations && Object.keys(annotations).length ? { annotations } : {}),
  };
}
