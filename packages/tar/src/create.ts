import { Readable } from 'node:stream';
import { type Contents, planContents } from './contents.js';
import { cleanPath } from './names.js';
import { resolveTarOptions, type TarOptions } from './options.js';
import { finalizePlan, type PlannedEntry } from './plan.js';
import { walkSorted } from './sorted-walk.js';
import { walk } from './walk.js';
import { writeTar } from './writer.js';

/** A host path and where it lands in the layer, for `tarPaths`. */
export interface PathPair {
  /** Host file or directory. */
  src: string;
  /** Where `src` itself lands in the layer, e.g. `/app` (a directory's content goes under it). */
  dest: string;
}

function join(prefix: string, rel: string): string {
  return prefix === '' ? rel : rel === '' ? prefix : `${prefix}/${rel}`;
}

/** Build the tar lazily: the tree is scanned when the stream is first read. */
export function lazyTar(
  plan: () => Promise<Iterable<PlannedEntry> | AsyncIterable<PlannedEntry>>,
  opts: TarOptions,
): Readable {
  const { signal, onProgress } = opts;
  async function* gen() {
    const entries = await plan();
    if (!onProgress) {
      yield* writeTar(entries, signal);
      return;
    }
    let done = 0;
    for await (const chunk of writeTar(entries, signal)) {
      done += chunk.length;
      onProgress({ id: 'tar', phase: 'archive', done });
      yield chunk;
    }
  }
  return Readable.from(gen(), { objectMode: false, highWaterMark: 1 << 20 });
}

/**
 * A deterministic layer tar of the directory `dir` (its content, not the directory itself,
 * unless `prefix` names a destination for it). Sorted by path bytes, fixed mtime and owners,
 * hardlinks kept as hardlinks, symlinks as symlinks.
 */
export function tarDirectory(dir: string, opts: TarOptions = {}): Readable {
  return tarPaths([{ src: dir, dest: '/' }], opts);
}

/**
 * A deterministic layer tar of several host paths, each placed at its destination (under
 * `opts.prefix`). When two sources produce the same path, the later pair wins.
 */
export function tarPaths(pairs: PathPair[], opts: TarOptions = {}): Readable {
  const o = resolveTarOptions(opts);
  const prefix = cleanPath(o.prefix);
  const placed = pairs.map(({ src, dest }) => ({ src, dest: join(prefix, cleanPath(dest)) }));
  const parents = { mtime: o.epoch, owner: o.defaultOwner };
  return lazyTar(async () => {
    // Without a filter, entries come as the walk finds them (sorted-walk.ts); a filter may rename
    // them, so then the whole tree is planned and sorted first.
    if (!o.filter) return walkSorted(placed, o, parents);
    const entries: PlannedEntry[] = [];
    for (const { src, dest } of placed) await walk(src, dest, o, entries);
    return finalizePlan(entries, parents);
  }, opts);
}

/** A deterministic layer tar of in-memory content: `{ '/etc/app.conf': 'text' | bytes | { data, mode, ... } }`. */
export function tarContents(contents: Contents, opts: TarOptions = {}): Readable {
  const o = resolveTarOptions(opts);
  const prefix = cleanPath(o.prefix);
  return lazyTar(
    async () => finalizePlan(planContents(contents, prefix, o), { mtime: o.epoch, owner: o.defaultOwner }),
    opts,
  );
}
