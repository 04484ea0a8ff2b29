import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { mapLimit } from '@pd/internal';
import { type Descriptor, PdError, type Platform, parseReference } from '@pd/oci-types';
import type { RegistryClient } from '@pd/registry';
import { defaultClient } from '../client.js';
import { DirBlobStore } from '../formats/blob-store.js';
import { openDescriptor } from '../formats/oci-layout-image.js';
import { REF_NAME_ANNOTATION, readLayoutIndex } from '../formats/oci-layout-reader.js';
import { writeOciLayout } from '../formats/oci-layout-writer.js';
import type { Image, ImageIndex } from '../model.js';
import { mapIndex } from '../mutate/index-map.js';
import * as remote from '../remote.js';
import { push } from '../sinks/push.js';
import { type TagFilter, tagMatcher } from './tags.js';

// Mirroring, as skopeo sync and regsync do: repositories (or their chosen tags) from a registry
// to another, or into a directory of OCI layouts (one per repository) to carry into an air-gapped
// site, and from there back into a registry. Every digest is kept. A second run moves only what
// is missing: an image already at the target with the same digest is skipped without a byte, and
// a half-copied one resumes where it stopped (blobs are skipped where the target has them).

/** Where a sync reads: a registry repository (`host/repo`, or `host/repo:tag` for one tag), or a directory of layouts. */
export type SyncSource = { registry: string } | { directory: string };

/** Where a sync writes: a registry and an optional path prefix (`host/mirror`), or a directory of layouts. */
export type SyncTarget = { registry: string } | { directory: string };

/** One line of a sync: what to take from where, and where to put it. */
export interface SyncTask extends TagFilter {
  from: SyncSource;
  to: SyncTarget;
  /** Platforms of a multi-platform image to keep (default all: the index as it is, digest kept). */
  platforms?: readonly Platform[] | 'all';
  /**
   * Name a repository at the target by its whole source path (`team/app` under the target's
   * prefix) rather than its last component (`app`), as skopeo's `--scoped`. A directory source
   * always keeps the layouts' paths.
   */
  scoped?: boolean;
}

/** Options of `sync`. */
export interface SyncOptions {
  client?: RegistryClient;
  /** Images moved at once (default 2; each moves its blobs with the client's own parallelism). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Told of each image when it is done (or failed). */
  onImage?: (image: SyncedImage) => void;
}

/** What became of one image. */
export interface SyncedImage {
  /** `host/repo:tag`, or `DIR/repo:tag` for a layout. */
  source: string;
  target: string;
  /** Digest of what is at the target now (absent when the image failed before it was known). */
  digest?: string;
  /** `copied`: moved now; `up-to-date`: the target had it already; `failed`: see `error`. */
  status: 'copied' | 'up-to-date' | 'failed';
  error?: Error;
}

/** What `sync` did. */
export interface SyncReport {
  images: SyncedImage[];
  copied: number;
  upToDate: number;
  failed: number;
}

/** A source or target that is neither a registry repository nor a directory of layouts. */
export class SyncSourceError extends PdError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'SYNC_SOURCE', ...(hint ? { hint } : {}) });
  }
}

/** One image to move: where from, where to, and how to open it. */
interface Item {
  source: string;
  target: string;
  open(): Promise<Image | ImageIndex>;
  write(image: Image | ImageIndex): Promise<string>;
  /** The digest the target holds under this name, if any. */
  current(): Promise<string | undefined>;
  platforms: readonly Platform[] | 'all';
}

/**
 * Run the tasks: list each source's tags (all, or as filtered), then move every image not already
 * at its target, `concurrency` at a time. One image failing does not stop the others: the report
 * says which failed and why (the CLI exits 1). A tag filter or source that names nothing is an
 * error before anything moves.
 */
export async function sync(tasks: readonly SyncTask[], opts: SyncOptions = {}): Promise<SyncReport> {
  const client = opts.client ?? defaultClient();
  const items: Item[] = [];
  for (const task of tasks) items.push(...(await plan(task, client, opts.signal)));
  const images = await mapLimit(items, opts.concurrency ?? 2, async (item) => {
    const done = await move(item, opts.signal);
    opts.onImage?.(done);
    return done;
  });
  const count = (s: SyncedImage['status']) => images.filter((i) => i.status === s).length;
  return { images, copied: count('copied'), upToDate: count('up-to-date'), failed: count('failed') };
}

async function move(item: Item, signal: AbortSignal | undefined): Promise<SyncedImage> {
  const { source, target } = item;
  try {
    signal?.throwIfAborted();
    let image = await item.open();
    if (image.kind === 'index' && item.platforms !== 'all') {
      image = await mapIndex(image, async (child) => child, { platforms: item.platforms });
    }
    const digest = await image.digest();
    if ((await item.current()) === digest) return { source, target, digest, status: 'up-to-date' };
    await item.write(image);
    return { source, target, digest, status: 'copied' };
  } catch (e) {
    if (signal?.aborted) throw e;
    return { source, target, status: 'failed', error: e instanceof Error ? e : new Error(String(e)) };
  }
}

/** The images of one task: a repository's tags (or a directory's layouts' tags), filtered. */
async function plan(task: SyncTask, client: RegistryClient, signal?: AbortSignal): Promise<Item[]> {
  const matches = await tagMatcher(task);
  const platforms = task.platforms ?? 'all';
  const sources =
    'registry' in task.from
      ? await registryImages(task.from.registry, task.scoped === true, client, signal)
      : await directoryImages(task.from.directory);
  const items: Item[] = [];
  const listed = new Set<string>();
  for (const s of sources) {
    listed.add(s.tag);
    if (!matches(s.tag)) continue;
    items.push({ ...s, ...targetOf(task.to, s.repository, s.tag, client, signal), platforms });
  }
  const missing = (task.tags ?? []).filter((t) => !listed.has(t));
  if (missing.length > 0) {
    throw new SyncSourceError(`${describe(task.from)} has no tag ${missing.join(', ')}`);
  }
  return items;
}

interface SourceImage {
  source: string;
  /** The repository's name at the target (below its prefix). */
  repository: string;
  tag: string;
  open(): Promise<Image | ImageIndex>;
}

async function registryImages(
  from: string,
  scoped: boolean,
  client: RegistryClient,
  signal?: AbortSignal,
): Promise<SourceImage[]> {
  const ref = parseReference(from, { defaultTag: false });
  if (ref.digest)
    throw new SyncSourceError(`${from}: sync copies tags, not digests`, 'name the repository, or REPO:TAG');
  const call = signal ? { signal } : {};
  const tags = ref.tag !== undefined ? [ref.tag] : await client.listTags(ref.repo(), call);
  const repository = scoped ? ref.repository : ref.repository.split('/').at(-1)!;
  return tags.map((tag) => {
    const at = ref.withTag(tag);
    return { source: at.toString(), repository, tag, open: () => remote.get(at, { client, ...call }) };
  });
}

/** Every tagged entry of every OCI layout under `dir` (found by their `oci-layout` file). */
async function directoryImages(dir: string): Promise<SourceImage[]> {
  const layouts = await findLayouts(dir);
  if (layouts.length === 0) {
    throw new SyncSourceError(
      `${dir} holds no OCI image layout`,
      'a sync into a directory writes one per repository',
    );
  }
  const out: SourceImage[] = [];
  for (const layout of layouts) {
    const store = new DirBlobStore(layout);
    const index = await readLayoutIndex(store);
    const repository = relative(dir, layout).split(sep).join('/');
    for (const d of index.manifests) {
      const tag = d.annotations?.[REF_NAME_ANNOTATION];
      if (tag === undefined) continue; // an untagged entry has no name to sync under
      out.push({
        source: `${layout}:${tag}`,
        repository,
        tag,
        open: async () => openDescriptor(store, d as Descriptor),
      });
    }
  }
  return out;
}

async function findLayouts(dir: string, depth = 0): Promise<string[]> {
  if (depth > 16) return [];
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new SyncSourceError(`${dir} does not exist`);
    throw e;
  });
  if (entries.some((e) => e.isFile() && e.name === 'oci-layout')) return [dir];
  const found: string[] = [];
  for (const e of entries) {
    if (e.isDirectory()) found.push(...(await findLayouts(join(dir, e.name), depth + 1)));
  }
  return found.sort();
}

function targetOf(
  to: SyncTarget,
  repository: string,
  tag: string,
  client: RegistryClient,
  signal?: AbortSignal,
): Pick<Item, 'target' | 'write' | 'current'> {
  const call = signal ? { signal } : {};
  if ('directory' in to) {
    const layout = join(to.directory, ...repository.split('/'));
    return {
      target: `${layout}:${tag}`,
      // Manifests byte for byte: a later sync from here into a registry keeps every digest.
      write: async (image) =>
        (await writeOciLayout(layout, image, { tag, manifests: 'keep', ...call })).digest,
      current: () => layoutDigest(layout, tag),
    };
  }
  const at = parseReference(`${to.registry.replace(/\/+$/, '')}/${repository}:${tag}`);
  return {
    target: at.toString(),
    write: async (image) => (await push(image, at, { client, compression: 'none', ...call })).digest,
    current: async () => (await client.headManifest(at, call))?.digest,
  };
}

async function layoutDigest(layout: string, tag: string): Promise<string | undefined> {
  if (!(await stat(join(layout, 'index.json')).catch(() => undefined))) return undefined;
  const index = await readLayoutIndex(new DirBlobStore(layout));
  return index.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === tag)?.digest;
}

function describe(s: SyncSource | SyncTarget): string {
  return 'registry' in s ? s.registry : s.directory;
}
