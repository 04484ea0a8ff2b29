import { Readable } from 'node:stream';
import { decompress } from './decompress.js';
import type { LayerSource } from './extract.js';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarHeader } from './header.js';
import { cleanPath, parentOf } from './names.js';
import { parseTar } from './reader.js';
import { whiteoutTarget } from './whiteout.js';

/**
 * Merge a stack of layers (lowest first) into one tar without whiteouts, reading each layer once,
 * top layer first: a path emitted by an upper layer shadows the same path below, a whiteout
 * hides the path and its subtree below, an opaque marker hides everything below in its
 * directory, and an upper non-directory hides a lower directory's subtree. What a layer marks
 * takes effect only for the layers under it, so an opaque directory keeps its own layer's content.
 *
 * Because upper layers come first, a directory's entry may follow its children; tar readers
 * (GNU tar, docker, extract()) create parents as needed. A hardlink whose target lives in a
 * lower layer is held back (header only) until that target has been written. A hardlink whose
 * target an upper layer replaced links to the upper file (as in go-containerregistry's
 * mutate.Extract); the lower content is not recovered, which would need a second pass.
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
      yield encodeHeader(h);
      yield* finishLinks(path);
    }
  };

  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i]!;
    const input = typeof layer === 'function' ? await layer() : layer;
    const layerHidden: string[] = [];
    const layerOpaque: string[] = [];
    for await (const { header, body } of parseTar(decompress(input))) {
      signal?.throwIfAborted();
      const wh = whiteoutTarget(header.name);
      if (wh) {
        if (wh.kind === 'opaque') layerOpaque.push(wh.dir);
        else layerHidden.push(wh.path);
        continue;
      }
      if (header.type === 'unknown') continue;
      const path = cleanPath(header.name);
      if (path === '' || emitted.has(path) || isHidden(path, hidden, opaque)) continue;
      const out: TarHeader = { ...header, name: header.type === 'directory' ? `${path}/` : path };
      if (header.type !== 'directory') layerHidden.push(path);
      if (header.type === 'link') {
        const target = cleanPath(header.linkname);
        out.linkname = target;
        if (!emitted.has(target)) {
          const list = waitingLinks.get(target) ?? [];
          list.push(out);
          waitingLinks.set(target, list);
          continue;
        }
      }
      emitted.add(path);
      yield encodeHeader(out);
      if (out.size > 0) {
        for await (const chunk of body) yield chunk;
        const pad = padding(out.size);
        if (pad) yield END_OF_ARCHIVE.subarray(0, pad);
      }
      yield* finishLinks(path);
    }
    for (const p of layerHidden) hidden.add(p);
    for (const d of layerOpaque) opaque.add(d);
  }
  yield END_OF_ARCHIVE;
}
