import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ChannelError, describeNetworkError } from './errors.js';
import type { RepodataCache } from './repodata-cache.js';

/** A virtual package the solver should consider installed (`__glibc 2.28`, `__linux 6.1`...). */
export interface VirtualPackage {
  name: string;
  version: string;
  build?: string;
}

/** What a Linux container host offers, so that `__glibc >=2.17` style dependencies resolve. */
export const DEFAULT_VIRTUAL_PACKAGES: VirtualPackage[] = [
  { name: '__unix', version: '0' },
  { name: '__linux', version: '5.15' },
  { name: '__glibc', version: '2.36' },
];

/** A channel that exists only inside the shim and lists the virtual packages. */
export const VIRTUAL_CHANNEL = 'http://pd-virtual-packages.invalid/virtual';

function virtualRepodata(subdir: string, packages: VirtualPackage[], platform: string): string {
  const records: Record<string, unknown> = {};
  if (subdir === platform) {
    for (const p of packages) {
      const build = p.build ?? '0';
      records[`${p.name}-${p.version}-${build}.tar.bz2`] = {
        name: p.name,
        version: p.version,
        build,
        build_number: 0,
        depends: [],
        subdir,
        // The solver wants checksums on every record; these files are never fetched.
        md5: '0'.repeat(32),
        sha256: '0'.repeat(64),
        size: 0,
      };
    }
  }
  return JSON.stringify({ info: { subdir }, packages: records, 'packages.conda': {}, repodata_version: 1 });
}

export interface FetchShimOptions {
  cache: RepodataCache;
  /** http(s) channel URLs whose index requests go through the cache. */
  httpChannels: string[];
  /**
   * `file://` channels, by the http alias the solver is given for them: rattler's wasm build
   * fails on file URLs before it ever calls fetch.
   */
  fileChannels: Map<string, string>;
  platform: string;
  virtualPackages: VirtualPackage[];
  signal?: AbortSignal;
}

/** The URL the solver is given for the `index`-th file channel. */
export function fileChannelAlias(index: number): string {
  return `http://pd-file-channel-${index}.invalid/channel`;
}

let queue: Promise<unknown> = Promise.resolve();

function urlOf(input: Parameters<typeof fetch>[0]): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  return input.url;
}

/**
 * Run `fn` (a rattler solve) with `globalThis.fetch` replaced: rattler fetches repodata itself,
 * cannot read `file://` channels and knows no HTTP cache. The replacement serves `file://` index
 * files from disk, the virtual-package channel from memory, and http(s) index files through the
 * repodata cache; anything else goes to the real fetch. Solves run one at a time, since the
 * global is shared, and the original is restored afterwards.
 */
export function withFetchShim<T>(options: FetchShimOptions, fn: () => Promise<T>): Promise<T> {
  const run = async () => {
    const original = globalThis.fetch;
    // rattler turns a failed request into "error sending request": keep the first failure, with
    // its URL and cause, to report instead when the solve fails.
    let failure: unknown;
    const shim: typeof fetch = async (input, init) => {
      const url = urlOf(input);
      try {
        return withUrl(await answer(url, input, init), url);
      } catch (e) {
        failure ??=
          e instanceof ChannelError ? e : new ChannelError(url, describeNetworkError(e), undefined, e);
        throw e;
      }
    };
    const answer = async (
      url: string,
      input: Parameters<typeof fetch>[0],
      init: Parameters<typeof fetch>[1],
    ): Promise<Response> => {
      for (const [alias, fileUrl] of options.fileChannels) {
        if (url.startsWith(`${alias}/`)) return serveFile(`${fileUrl}${url.slice(alias.length)}`);
      }
      if (url.startsWith(`${VIRTUAL_CHANNEL}/`)) {
        const rest = url.slice(VIRTUAL_CHANNEL.length + 1);
        const [subdir, file] = rest.split('/');
        if (file !== 'repodata.json' || !subdir) return new Response(null, { status: 404 });
        return new Response(virtualRepodata(subdir, options.virtualPackages, options.platform), {
          status: 200,
        });
      }
      if (options.httpChannels.some((c) => url.startsWith(`${c}/`))) {
        return options.cache.get(url, original, options.signal);
      }
      return original(input, init);
    };
    globalThis.fetch = shim;
    try {
      return await fn();
    } catch (e) {
      throw failure ?? e;
    } finally {
      globalThis.fetch = original;
    }
  };
  const result = queue.then(run, run);
  queue = result.catch(() => undefined);
  return result;
}

/** rattler reads `response.url` (to follow redirects); a constructed Response has none. */
function withUrl(res: Response, url: string): Response {
  if (res.url) return res;
  Object.defineProperty(res, 'url', { value: url });
  return res;
}

async function serveFile(url: string): Promise<Response> {
  try {
    return new Response(await readFile(fileURLToPath(url)), { status: 200 });
  } catch {
    return new Response(null, { status: 404 });
  }
}
