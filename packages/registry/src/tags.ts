import { CATALOG_SCOPE, ScopeSet } from './auth/scope.js';
import { apiPath, type Context, pullScope } from './context.js';
import { RegistryError, type Subject } from './errors.js';
import { header, readText } from './transport/http.js';
import { type CallOptions, type RepositoryLike, repoName } from './types.js';

/** Options of `listTags` and `catalog`. */
export interface ListOptions extends CallOptions {
  /** Entries per page asked for with `n` (default 1000; registries may cap it). */
  pageSize?: number | undefined;
}

const MAX_PAGES = 100_000;
const MAX_PAGE_BYTES = 32 * 1024 * 1024;

/** All tags of a repository, following `Link` pagination. */
export async function listTags(
  ctx: Context,
  repo: RepositoryLike,
  opts: ListOptions = {},
): Promise<string[]> {
  const out: string[] = [];
  for await (const page of paginate(
    ctx,
    repo.registry,
    `${apiPath(repo, 'tags/list')}?n=${opts.pageSize ?? 1000}`,
    pullScope(repo),
    {
      registry: repo.registry,
      repository: repo.repository,
      what: `tags of ${repoName(repo)}`,
      action: 'pull',
    },
    'tags',
    opts.signal,
  )) {
    out.push(...page);
  }
  return out;
}

/** All repository names of a registry (`/v2/_catalog`), following `Link` pagination. */
export async function catalog(ctx: Context, registry: string, opts: ListOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const page of paginate(
    ctx,
    registry,
    `/v2/_catalog?n=${opts.pageSize ?? 1000}`,
    new ScopeSet([CATALOG_SCOPE]),
    { registry, what: `catalog of ${registry}`, action: 'catalog' },
    'repositories',
    opts.signal,
  )) {
    out.push(...page);
  }
  return out;
}

async function* paginate(
  ctx: Context,
  registry: string,
  first: string,
  scopes: ScopeSet,
  subject: Subject,
  field: 'tags' | 'repositories',
  signal: AbortSignal | undefined,
): AsyncGenerator<string[]> {
  let path: string | URL = first;
  const seen = new Set<string>();
  for (let page = 0; page < MAX_PAGES; page++) {
    const { items, next }: { items: string[]; next: URL | undefined } = await ctx.requester.call(
      { registry, method: 'GET', path, scopes, ok: [200], subject, signal },
      async (res) => {
        const text = await readText(res.body, MAX_PAGE_BYTES);
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          throw new RegistryError(`${subject.what}: the registry returned malformed JSON`, { registry });
        }
        const list = body[field];
        // distribution answers `"tags": null` for a repository without tags.
        const items = Array.isArray(list) ? list.filter((t): t is string => typeof t === 'string') : [];
        return { items, next: nextLink(header(res.headers, 'link'), res.url) };
      },
    );
    yield items;
    if (!next) return;
    const ep = await ctx.requester.endpoint(registry, signal);
    // Follow only links on the registry's own origin: credentials go with them.
    if (next.origin !== ep.origin || seen.has(next.href)) return;
    seen.add(next.href);
    path = next;
  }
}

/** The `rel="next"` target of a Link header (RFC 8288), resolved against the request URL. */
export function nextLink(link: string | undefined, base: URL): URL | undefined {
  if (!link) return undefined;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!m?.[1]) continue;
    const params = m[2] ?? '';
    if (/;\s*rel\s*=\s*"?(?:[^";]*\s)?next(?:\s[^";]*)?"?/i.test(params)) {
      try {
        return new URL(m[1], base);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
