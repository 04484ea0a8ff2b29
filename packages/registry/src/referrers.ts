import { type Descriptor, MediaType, parseDigest, ValidationError, validateDescriptor } from '@pd/oci-types';
import { apiPath, type Context, pullScope } from './context.js';
import { NotFoundError, RegistryError } from './errors.js';
import { getManifest } from './manifests.js';
import { abandon, header, readText } from './transport/http.js';
import { type CallOptions, type RepositoryLike, repoName, shortDigest } from './types.js';

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
