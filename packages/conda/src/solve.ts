import { join } from 'node:path';
import { isPlatform, type Platform, type SolvedPackage, simpleSolve } from '@conda-org/rattler';
import { condaCacheDir } from './cache-dir.js';
import { type Channel, type ChannelOptions, parseSpec, resolveChannels } from './channels.js';
import { SolveError } from './errors.js';
import {
  DEFAULT_VIRTUAL_PACKAGES,
  fileChannelAlias,
  VIRTUAL_CHANNEL,
  type VirtualPackage,
  withFetchShim,
} from './fetch-shim.js';
import { dependencyOrder } from './order.js';
import type { CondaPackageRecord } from './record.js';
import { RepodataCache, type RepodataCacheStats } from './repodata-cache.js';

/** Options of {@link solve}. */
export interface SolveOptions extends ChannelOptions {
  /** Channel names or URLs, highest priority first. Default `['conda-forge']`. */
  channels?: string[];
  /** conda subdir to solve for. Default `linux-64`. */
  platform?: string;
  /** Default `<pd cache>/conda`; repodata goes to `repodata/` under it. */
  cacheDir?: string;
  /** Solve from cached repodata only. */
  offline?: boolean;
  /** Virtual packages the target offers; `[]` for none. Default {@link DEFAULT_VIRTUAL_PACKAGES}. */
  virtualPackages?: VirtualPackage[];
  /** Receives notes of the repodata cache (a cached index used because the channel did not answer). */
  onLog?: (message: string) => void;
  signal?: AbortSignal;
}

/** What {@link solve} found: the packages of the environment, and where they come from. */
export interface Solution {
  /** The specs as given. */
  specs: string[];
  /** The channels searched, highest priority first (channels of `channel::` specs last). */
  channels: Channel[];
  /** The conda subdir solved for. */
  platform: string;
  /** Packages in dependency order (dependencies first). */
  packages: CondaPackageRecord[];
  /** How the channel index requests were answered (downloads, 304s, cache hits). */
  repodata: RepodataCacheStats;
}

// Bracket channels and paths make rattler's wasm build abort the whole process; refuse them first.
const UNSAFE_SPEC = /\[[^\]]*\bchannel\s*=|^[./~]|:\/\//;

function readable(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text
    .replace(/^Cannot solve the request because of:\s*/i, '')
    .replace(/\s+$/, '')
    .replace(/\n+/g, ' ')
    .replace(/[└├│─]+/g, '')
    .replace(/\s{2,}/g, ' ');
}

/**
 * Solve conda MatchSpecs (`numpy >=1.26`, `python=3.12`, `conda-forge::flask`) for one platform
 * with rattler, against http(s) and `file://` channels. Repodata is cached with ETag /
 * Last-Modified revalidation in `<cache>/repodata/`.
 */
export async function solve(specs: string[], options: SolveOptions = {}): Promise<Solution> {
  const platform = options.platform ?? 'linux-64';
  if (!isPlatform(platform) || platform === 'noarch' || platform === 'unknown') {
    throw new SolveError(specs, `unknown platform ${JSON.stringify(platform)}`, {
      hint: 'use a conda subdir such as linux-64, linux-aarch64 or osx-arm64',
    });
  }
  if (specs.length === 0) throw new SolveError(specs, 'no packages were asked for');
  const parsed = specs.map((s) => {
    const p = parseSpec(s);
    if (!p.name || UNSAFE_SPEC.test(p.spec)) {
      throw new SolveError(specs, `unsupported spec ${JSON.stringify(s)}`, {
        hint: 'write specs as `name`, `name >=1.2`, `name=1.2` or `channel::name`',
      });
    }
    return p;
  });
  const names = [...(options.channels ?? ['conda-forge'])];
  for (const p of parsed) if (p.channel && !names.includes(p.channel)) names.push(p.channel);
  const channels = resolveChannels(names, options);
  const pinned = new Map<string, Channel>();
  for (const p of parsed) {
    if (p.channel) pinned.set(p.name, resolveChannels([p.channel], options)[0]!);
  }

  const cache = new RepodataCache({
    dir: join(options.cacheDir ?? condaCacheDir(), 'repodata'),
    ...(options.offline ? { offline: true } : {}),
    ...(options.onLog ? { onLog: options.onLog } : {}),
  });
  const virtual = options.virtualPackages ?? DEFAULT_VIRTUAL_PACKAGES;
  const fileChannels = new Map<string, string>();
  const channelUrls = channels.map((c) => {
    if (!c.url.startsWith('file:')) return c.url;
    const alias = fileChannelAlias(fileChannels.size);
    fileChannels.set(alias, c.url);
    return alias;
  });
  const realUrl = (url: string) => {
    for (const [alias, fileUrl] of fileChannels)
      if (url.startsWith(alias)) return fileUrl + url.slice(alias.length);
    return url;
  };
  if (virtual.length) channelUrls.push(VIRTUAL_CHANNEL);
  const platforms: Platform[] = [platform, 'noarch'];
  let solved: SolvedPackage[];
  try {
    solved = await withFetchShim(
      {
        cache,
        fileChannels,
        httpChannels: channels.filter((c) => /^https?:/.test(c.url)).map((c) => c.url),
        platform,
        virtualPackages: virtual,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      () =>
        simpleSolve(
          parsed.map((p) => p.spec),
          channelUrls,
          platforms,
          [],
        ),
    );
  } catch (e) {
    if (e instanceof Error && 'code' in e && typeof e.code === 'string' && e.code.startsWith('CONDA_'))
      throw e;
    throw new SolveError(specs, readable(e), { cause: e });
  }

  const requested = new Map(parsed.map((p) => [p.name, specs[parsed.indexOf(p)]!]));
  const records: CondaPackageRecord[] = [];
  for (const s of solved) {
    try {
      if (s.packageName.startsWith('__')) continue;
      const repo = realUrl((s.repoName ?? '').replace(/\/+$/, ''));
      const channel = channels.find((c) => c.url === repo) ?? { name: repo, url: repo };
      const want = pinned.get(s.packageName);
      if (want && want.url !== channel.url) {
        throw new SolveError(
          specs,
          `${s.packageName} was pinned to ${want.name} but the solver took it from ${channel.name}`,
          { hint: `list ${want.name} first in the channels` },
        );
      }
      records.push({
        name: s.packageName,
        version: s.version,
        build: s.build,
        buildNumber: Number(s.buildNumber ?? 0n),
        subdir: s.subdir ?? platform,
        filename: s.filename,
        url: realUrl(s.url),
        channel: channel.url,
        channelName: channel.name,
        sha256: s.sha256,
        md5: s.md5,
        size: s.size === undefined ? undefined : Number(s.size),
        depends: s.depends ?? [],
        requestedSpec: requested.get(s.packageName) ?? '',
      });
    } finally {
      s.free();
    }
  }
  return { specs, channels, platform, packages: dependencyOrder(records), repodata: cache.stats };
}
