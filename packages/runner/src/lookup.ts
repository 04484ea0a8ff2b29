import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { CachedLayer } from './layer-store.js';

// Reading a file of the image (/etc/passwd, /etc/group) before any rootfs exists: the path is
// looked up through the cached layers from the top, with overlay semantics taken from each
// layer's whiteout lists, and symlinks resolved inside the image (never on the host). The lstats
// are synchronous, as the bundle's small files are (see prepareBundle).

const MAX_LINKS = 40;

export interface Found {
  /** Host path of the file in the layer that provides it. */
  hostPath: string;
  stats: Stats;
}

/** The file at `path` in the image made of `layers` (base first), or undefined. */
export async function lookupPath(layers: CachedLayer[], path: string): Promise<Found | undefined> {
  let parts = split(path);
  for (let hops = 0; hops <= MAX_LINKS; hops++) {
    const hit = await lookupOnce(layers, parts);
    if (hit === undefined) return undefined;
    if (hit.kind === 'found') return hit.found;
    parts = hit.parts;
  }
  return undefined; // a symlink loop
}

type Step = { kind: 'found'; found: Found } | { kind: 'link'; parts: string[] } | undefined;

function split(path: string): string[] {
  const out: string[] = [];
  for (const p of path.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') out.pop();
    else out.push(p);
  }
  return out;
}

function lstatOr(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Resolve `parts` through the layers; a symlink anywhere on the way restarts with its target. */
async function lookupOnce(layers: CachedLayer[], parts: string[]): Promise<Step> {
  // Walk component by component: the merged view decides what each prefix is.
  for (let depth = 1; depth <= parts.length; depth++) {
    const prefix = parts.slice(0, depth);
    const top = await topmost(layers, prefix);
    if (!top) return undefined;
    const last = depth === parts.length;
    if (top.stats.isSymbolicLink()) {
      const target = readlinkSync(top.hostPath);
      const base = target.startsWith('/') ? [] : prefix.slice(0, -1);
      return { kind: 'link', parts: split([...base, target, ...parts.slice(depth)].join('/')) };
    }
    if (last) return { kind: 'found', found: top };
    if (!top.stats.isDirectory()) return undefined;
  }
  return undefined;
}

/** The top-most layer entry for `prefix` (whose parents are known to be directories), honouring whiteouts. */
async function topmost(layers: CachedLayer[], prefix: string[]): Promise<Found | undefined> {
  const rel = prefix.join('/');
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i]!;
    const st = lstatOr(join(layer.fs, rel));
    const whiteoutDevice = st?.isCharacterDevice() && st.rdev === 0;
    if (st && !whiteoutDevice) return { hostPath: join(layer.fs, rel), stats: st };
    if (whiteoutDevice || layer.meta.whiteouts.includes(rel)) return undefined;
    // An opaque directory on the way hides what lower layers have below it.
    for (let d = 0; d < prefix.length; d++) {
      if (layer.meta.opaques.includes(prefix.slice(0, d).join('/'))) return undefined;
    }
  }
  return undefined;
}
