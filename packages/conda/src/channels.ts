import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Where channel names such as `conda-forge` live, as in conda's `channel_alias`. */
export const DEFAULT_CHANNEL_ALIAS = 'https://conda.anaconda.org/';

/** What conda's `defaults` stands for. */
export const DEFAULT_CHANNELS = ['https://repo.anaconda.com/pkgs/main', 'https://repo.anaconda.com/pkgs/r'];

/** How channel names become URLs (see {@link resolveChannels}). */
export interface ChannelOptions {
  /** Base URL that channel names are appended to. Default {@link DEFAULT_CHANNEL_ALIAS}. */
  channelAlias?: string;
  /** URLs `defaults` expands to. Default {@link DEFAULT_CHANNELS}. */
  defaultChannels?: string[];
  /** Directory relative channel paths (`./channel`) are resolved against. Default the working directory. */
  baseDir?: string;
}

/** A channel as the user named it and the URL pd fetches it from (no trailing slash). */
export interface Channel {
  name: string;
  url: string;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * Channel names to URLs: URLs are kept, paths become `file://` URLs, `defaults` expands to the
 * default channels, and any other name is appended to the channel alias.
 */
export function resolveChannels(names: string[], options: ChannelOptions = {}): Channel[] {
  const alias = trimSlash(options.channelAlias ?? DEFAULT_CHANNEL_ALIAS);
  const out: Channel[] = [];
  const seen = new Set<string>();
  const add = (name: string, url: string) => {
    const u = trimSlash(url);
    if (seen.has(u)) return;
    seen.add(u);
    out.push({ name, url: u });
  };
  for (const name of names) {
    if (name === 'defaults') {
      for (const url of options.defaultChannels ?? DEFAULT_CHANNELS) add(url, url);
    } else if (SCHEME.test(name)) {
      add(name, name);
    } else if (isAbsolute(name) || name.startsWith('./') || name.startsWith('../')) {
      add(name, pathToFileURL(resolve(options.baseDir ?? process.cwd(), name)).href);
    } else {
      add(name, `${alias}/${name.replace(/^\/+/, '')}`);
    }
  }
  return out;
}

/** A MatchSpec split into its channel (`conda-forge::numpy >=1`) and the rest. */
export interface ParsedSpec {
  channel: string | undefined;
  spec: string;
  name: string;
}

/** The package name a MatchSpec or a `depends` entry starts with. */
export function specName(spec: string): string {
  const m = /^\s*([A-Za-z0-9_.-]+)/.exec(spec);
  return m ? m[1]!.toLowerCase() : '';
}

/**
 * Split `channel::spec` into channel, spec and package name. pd handles the channel itself:
 * rattler's wasm build aborts the process when it parses a channel inside a spec (it asks for a
 * working directory wasm has not got).
 */
export function parseSpec(input: string): ParsedSpec {
  const trimmed = input.trim();
  const at = trimmed.lastIndexOf('::');
  let channel: string | undefined;
  let spec = trimmed;
  if (at >= 0) {
    channel = trimmed.slice(0, at);
    spec = trimmed.slice(at + 2).trim();
    // `conda-forge/linux-64::x` and `conda-forge/label/dev::x` name a channel path; keep the channel part.
    channel = channel.replace(/\/(noarch|linux-[a-z0-9_]+|osx-[a-z0-9]+|win-[a-z0-9]+)$/, '');
  }
  return { channel, spec, name: specName(spec) };
}
