import { compareBytes, parentOf } from './names.js';
import type { ResolvedTarOptions } from './options.js';
import { type Owner, type PlannedEntry, parentEntry } from './plan.js';
import { listDir, placeSource } from './walk.js';

/*
 * The entries of host paths in the order finalizePlan gives them (by path bytes, the later pair
 * winning a path, missing parents added, repeated inodes as hardlinks to the first), produced as
 * the tree is read instead of after all of it was: compression starts on the first entries
 * while the walk goes on, and a tree of a million files is never a million planned entries in
 * memory. A queue ordered by path bytes holds what was found and not yet written; a directory is
 * listed when it comes out of the queue. That is enough for the order: everything under `d`
 * sorts after `d`, and everything else that sorts before its children is already in the queue
 * (a sibling of `d` or of one of its parents, listed when they were). Only for entries whose path
 * is the walk's own: a filter may rename entries, and then the whole plan is sorted instead.
 */

/** A found entry waiting in the queue, with the host directory to list when it comes out. */
interface Queued {
  /** The entry's path, ordered by its UTF-8 bytes. */
  key: string;
  entry: PlannedEntry;
  dir: string | undefined;
  /** Which pair it comes from: of real entries of one path, the later pair's wins. */
  pair: number;
  /** A missing parent made up for a destination: any real entry of the same path wins. */
  madeUp: boolean;
}

/** A binary min-heap of queued entries by key bytes. */
class Queue {
  private readonly items: Queued[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Queued | undefined {
    return this.items[0];
  }

  push(q: Queued): void {
    const a = this.items;
    a.push(q);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (compareBytes(a[parent]!.key, q.key) <= 0) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = q;
  }

  pop(): Queued | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && compareBytes(a[r]!.key, a[l]!.key) < 0 ? r : l;
      if (compareBytes(a[c]!.key, last.key) >= 0) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
}

/**
 * The entries of `pairs` (host path → cleaned layer path, '' for the root) in finalizePlan's
 * order. `opts.filter` must be unset (see above).
 */
export async function* walkSorted(
  pairs: ReadonlyArray<{ src: string; dest: string }>,
  opts: ResolvedTarOptions,
  parents: { mtime: number; owner: Owner },
): AsyncGenerator<PlannedEntry> {
  const queue = new Queue();
  const add = (entry: PlannedEntry, dir: string | undefined, pair: number, madeUp = false) =>
    queue.push({ key: entry.path, entry, dir, pair, madeUp });
  const list = (dir: string, dest: string, pair: number) =>
    listDir(dir, dest, opts, (entry, subdir) => add(entry, subdir, pair));
  for (const [pair, { src, dest }] of pairs.entries()) {
    const { entry, dir } = placeSource(src, dest, opts);
    if (!entry) {
      if (dir) await list(dir, dest, pair); // the layer root: its content only
      continue;
    }
    add(entry, dir, pair);
    for (let p = parentOf(dest); p !== ''; p = parentOf(p))
      add(parentEntry(p, parents), undefined, pair, true);
  }
  const firstByInode = new Map<string, string>();
  for (let top = queue.pop(); top !== undefined; top = queue.pop()) {
    // Every entry of this path, from every pair: the later pair's real one wins, every
    // directory is listed.
    let winner = top;
    const same = [top];
    while (queue.size > 0 && queue.peek()!.key === top.key) same.push(queue.pop()!);
    for (const q of same) {
      if (winner.madeUp ? !q.madeUp || q.pair > winner.pair : !q.madeUp && q.pair > winner.pair) winner = q;
      if (q.dir !== undefined) await list(q.dir, q.entry.path, q.pair);
    }
    const e = winner.entry;
    if (e.inode !== undefined && e.header.type !== 'directory') {
      const first = firstByInode.get(e.inode);
      if (first === undefined) firstByInode.set(e.inode, e.path);
      else {
        e.header = { ...e.header, type: 'link', linkname: first, size: 0 };
        e.source = { kind: 'none' };
      }
    }
    yield e;
  }
}
