import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { readFileStream, writeStreamToFile } from './batched-file.js';
import { decompress, type LayerInput } from './decompress.js';
import type { LayerSource } from './extract.js';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarHeader } from './header.js';
import { cleanPath, parentOf } from './names.js';
import { parseTar } from './reader.js';
import { whiteoutTarget } from './whiteout.js';

/**
 * Merge a stack of layers (lowest first) into one tar without whiteouts. The top layer is read
 * first: a path emitted by an upper layer shadows the same path below, a whiteout hides the path
 * and its subtree below, an opaque marker hides everything below in its directory, and an upper
 * non-directory hides a lower directory's subtree. What a layer marks takes effect only for the
 * layers under it, so an opaque directory keeps its own layer's content.
 *
 * Because upper layers come first, a directory's entry may follow its children; tar readers
 * (GNU tar, docker, extract()) create parents as needed. A hardlink whose target lives in a
 * lower layer is held back (header only) until that target has been written.
 *
 * Hardlinks keep overlayfs' meaning, as `docker export` shows it: when an upper layer replaced or
 * deleted a file, the surviving links of its group keep the old content (copy-up broke the link).
 * Such a group's first surviving member becomes a regular file with that content and the others
 * link to it; the content is read in a second pass over that one layer, which happens only when a
 * layer has such a group. Give layers as functions so they can be opened again; a layer given as
 * a stream is first copied to a temporary file for that reason (bytes in memory are read twice).
 */
export function flattenLayers(layers: LayerSource[], opts: { signal?: AbortSignal } = {}): Readable {
  return Readable.from(flatten(layers, opts.signal), { objectMode: false, highWaterMark: 1 << 20 });
}

function isHidden(path: string, hidden: Set<string>, opaque: Set<string>): boolean {
  if (hidden.has(path)) return true;
  for (let p = parentOf(path); ; p = parentOf(p)) {
    if (hidden.has(p) || opaque.has(p)) return true;
    if (p === '') return false;
  }
}

/** A layer that can be read twice: functions and bytes as they are, streams through a temp file. */
async function reopenable(
  layer: LayerSource,
  spoolDir: () => Promise<string>,
  index: number,
  signal: AbortSignal | undefined,
): Promise<() => LayerInput | Promise<LayerInput>> {
  if (typeof layer === 'function') return layer;
  if (layer instanceof Uint8Array) return () => layer;
  const file = join(await spoolDir(), `layer-${index}`);
  await writeStreamToFile(file, Readable.from(layer), signal);
  return () => readFileStream(file);
}

/** Links of one layer whose target that layer holds but an upper layer replaced or deleted. */
type BrokenGroups = Map<string, TarHeader[]>;

function* entry(h: TarHeader): Generator<Buffer> {
  yield encodeHeader(h);
}

async function* flatten(layers: LayerSource[], signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const emitted = new Set<string>();
  const hidden = new Set<string>(); // whited out or covered by an upper non-directory
  const opaque = new Set<string>(); // directories whose lower content is hidden
  const waitingLinks = new Map<string, TarHeader[]>();
  const finishLinks = function* (target: string): Generator<Buffer> {
    const links = waitingLinks.get(target);
    if (!links) return;
    waitingLinks.delete(target);
    for (const h of links) {
      const path = cleanPath(h.name);
      if (emitted.has(path)) continue;
      emitted.add(path);
      yield* entry(h);
      yield* finishLinks(path);
    }
  };
  let spool: string | undefined;
  const spoolDir = async () => {
    spool ??= await mkdtemp(join(tmpdir(), 'pd-flatten-'));
    return spool;
  };

  try {
    for (let i = layers.length - 1; i >= 0; i--) {
      const open = await reopenable(layers[i]!, spoolDir, i, signal);
      const layerHidden: string[] = [];
      const layerOpaque: string[] = [];
      // Within a layer a link names an earlier member; these record what each path became.
      const written = new Set<string>(); // paths this layer wrote to the output
      const shadowed = new Set<string>(); // non-link members that upper layers replaced or hid
      const linkOf = new Map<string, string>(); // link member → the member holding its content
      const broken: BrokenGroups = new Map();
      for await (const { header, body } of parseTar(decompress(await open()))) {
        signal?.throwIfAborted();
        const wh = whiteoutTarget(header.name);
        if (wh) {
          if (wh.kind === 'opaque') layerOpaque.push(wh.dir);
          else layerHidden.push(wh.path);
          continue;
        }
        if (header.type === 'unknown') continue;
        const path = cleanPath(header.name);
        const target = header.type === 'link' ? cleanPath(header.linkname) : '';
        const source = header.type === 'link' ? (linkOf.get(target) ?? target) : path;
        if (header.type === 'link') linkOf.set(path, source);
        if (path === '' || emitted.has(path) || isHidden(path, hidden, opaque)) {
          if (header.type !== 'link' && header.type !== 'directory') shadowed.add(path);
          continue;
        }
        const out: TarHeader = { ...header, name: header.type === 'directory' ? `${path}/` : path };
        if (header.type !== 'directory') layerHidden.push(path);
        if (header.type === 'link') {
          out.linkname = source;
          if (shadowed.has(source) && !written.has(source)) {
            // The group lost its member here: the first survivor takes the content (second pass).
            const group = broken.get(source) ?? [];
            group.push(out);
            broken.set(source, group);
            emitted.add(path);
            continue;
          }
          if (!emitted.has(source)) {
            const list = waitingLinks.get(source) ?? [];
            list.push(out);
            waitingLinks.set(source, list);
            continue;
          }
        }
        emitted.add(path);
        written.add(path);
        yield* entry(out);
        if (out.size > 0) {
          for await (const chunk of body) yield chunk;
          const pad = padding(out.size);
          if (pad) yield END_OF_ARCHIVE.subarray(0, pad);
        }
        yield* finishLinks(path);
      }
      if (broken.size > 0) yield* recoverGroups(await open(), broken, finishLinks, signal);
      for (const p of layerHidden) hidden.add(p);
      for (const d of layerOpaque) opaque.add(d);
    }
    yield END_OF_ARCHIVE;
  } finally {
    if (spool) await rm(spool, { recursive: true, force: true });
  }
}

/**
 * Second pass over a layer: each broken group's first member is written as a regular file with
 * the content (and metadata) of the member it linked to, and the rest of the group link to it.
 */
async function* recoverGroups(
  input: LayerInput,
  broken: BrokenGroups,
  finishLinks: (target: string) => Generator<Buffer>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  for await (const { header, body } of parseTar(decompress(input))) {
    signal?.throwIfAborted();
    const group = header.type === 'file' ? broken.get(cleanPath(header.name)) : undefined;
    if (!group) continue;
    broken.delete(cleanPath(header.name));
    const [first, ...rest] = group as [TarHeader, ...TarHeader[]];
    yield* entry({ ...header, name: first.name, type: 'file', linkname: '' });
    if (header.size > 0) {
      for await (const chunk of body) yield chunk;
      const pad = padding(header.size);
      if (pad) yield END_OF_ARCHIVE.subarray(0, pad);
    }
    yield* finishLinks(first.name);
    for (const h of rest) {
      yield* entry({ ...h, linkname: first.name });
      yield* finishLinks(h.name);
    }
    if (broken.size === 0) return;
  }
}
