import { type Descriptor, formatPlatform, isIndexMediaType, type Platform } from '@pd/oci-types';
import { InconsistentImageError, InvalidMutationError } from '../errors.js';
import type { Image, ImageIndex, IndexChild } from '../model.js';
import { buildIndex } from './built-index.js';
import { samePlatform } from './index-edit.js';

// An index-wide mutation, as ko and jib keep every platform of a base: the same change applied to
// each child, written back as an index with the children's order, platforms and annotations kept.

/** Changes one child of an index; `descriptor` is how the index lists it (its platform is there). */
export type ChildMapper = (image: Image, descriptor: Descriptor) => Promise<Image>;

/** Options of `mapIndex`. */
export interface MapIndexOptions {
  /**
   * The children to change: `all` (default: every image with a platform, attestations aside), or
   * those of these platforms (`linux/arm64` names `linux/arm64/v8`; each must name a child).
   */
  platforms?: 'all' | readonly Platform[];
  /** Children not selected stay in the index unchanged (default: they are dropped). */
  keepOthers?: boolean;
}

/** The annotations buildkit puts on an attestation manifest, naming the child it attests. */
const REFERENCE_TYPE = 'vnd.docker.reference.type';
const REFERENCE_DIGEST = 'vnd.docker.reference.digest';

/**
 * `index` with `fn` applied to each selected child, lazily (a child's layers are read only if
 * `fn` reads them). Nested indexes are mapped in turn. The result keeps the index's kind (a
 * manifest list stays one while every child is a Docker manifest) and its own annotations; it is
 * `index` itself when nothing changed. An attestation of a child that changed or was dropped is
 * dropped too: it attests the old image. Throws `InvalidMutationError` when a platform asked for
 * names no child, or when no child is selected.
 */
export async function mapIndex(
  index: ImageIndex,
  fn: ChildMapper,
  opts: MapIndexOptions = {},
): Promise<ImageIndex> {
  const platforms = opts.platforms ?? 'all';
  const unmatched = new Set(platforms === 'all' ? [] : platforms.map((p) => formatPlatform(p)));
  const mapped = await mapChildren(index, fn, {
    select: (d) => selected(d, platforms, unmatched),
    keepOthers: opts.keepOthers === true,
    attestations: 'follow',
  });
  if (unmatched.size > 0) {
    throw new InvalidMutationError(
      `the index has no image for ${[...unmatched].join(', ')}`,
      'pd inspect lists the platforms it has',
    );
  }
  if (mapped.selected === 0) throw new InvalidMutationError('no image of the index was selected');
  return mapped.index;
}

/**
 * An index with `fn` applied to every image it holds, of nested indexes too, attestations and
 * platform-less images included (a conversion such as compression applies to all of them).
 * Returns `index` itself when no image changed, so its digest is kept.
 */
export async function mapIndexImages(
  index: ImageIndex,
  fn: (image: Image) => Promise<Image>,
): Promise<ImageIndex> {
  return (await mapChildren(index, fn, { select: () => true, keepOthers: true, attestations: 'map' })).index;
}

interface Walk {
  select(d: Descriptor): boolean;
  keepOthers: boolean;
  /** `follow`: an attestation stays only while the child it attests does; `map`: it is an image like any. */
  attestations: 'follow' | 'map';
}

const MAX_DEPTH = 8;

async function mapChildren(
  index: ImageIndex,
  fn: ChildMapper,
  walk: Walk,
  depth = 0,
): Promise<{ index: ImageIndex; selected: number }> {
  if (depth > MAX_DEPTH)
    throw new InconsistentImageError('inconsistent image: indexes nested more than 8 deep');
  const children = await index.children();
  const out: IndexChild[] = [];
  // Digests of children the result no longer holds as they were: their attestations go too.
  const gone = new Set<string>();
  let selected = 0;
  for (const child of children) {
    const d = child.descriptor;
    if (walk.attestations === 'follow' && isAttestation(d)) {
      out.push(child);
      continue;
    }
    if (isIndexMediaType(d.mediaType)) {
      const nested = await child.open();
      if (nested.kind !== 'index')
        throw new InconsistentImageError(`inconsistent image: ${d.digest} is not an index`);
      const inner = await mapChildren(nested, fn, walk, depth + 1);
      if (inner.selected === 0 && !walk.keepOthers) {
        gone.add(d.digest);
        continue;
      }
      selected += inner.selected;
      out.push(inner.index === nested ? child : await listed(inner.index, d));
      if (inner.index !== nested) gone.add(d.digest);
      continue;
    }
    if (!walk.select(d)) {
      if (walk.keepOthers) out.push(child);
      else gone.add(d.digest);
      continue;
    }
    const opened = await child.open();
    if (opened.kind !== 'image')
      throw new InconsistentImageError(`inconsistent image: ${d.digest} is not an image`);
    const image = await fn(opened, structuredClone(d));
    selected++;
    if (image === opened || (await image.digest()) === d.digest) {
      out.push(child);
      continue;
    }
    out.push(await listed(image, d));
    gone.add(d.digest);
  }
  if (gone.size === 0) return { index, selected };
  const kept = out.filter((c) => !isAttestation(c.descriptor) || !gone.has(attested(c.descriptor)));
  return { index: buildIndex(await index.manifest(), kept), selected };
}

/** Whether the child is one `platforms` asks for; a platform that names it is crossed off `unmatched`. */
function selected(d: Descriptor, platforms: 'all' | readonly Platform[], unmatched: Set<string>): boolean {
  if (!d.platform || d.platform.os === 'unknown') return false;
  if (platforms === 'all') return true;
  const hits = platforms.filter((p) => samePlatform(p, d.platform!));
  for (const p of hits) unmatched.delete(formatPlatform(p));
  return hits.length > 0;
}

/** How the index lists `image` in place of `was`: new digest, size and type; platform and annotations kept. */
async function listed(image: Image | ImageIndex, was: Descriptor): Promise<IndexChild> {
  const [mediaType, digest, size] = await Promise.all([image.mediaType(), image.digest(), image.size()]);
  // `data` would embed the old bytes; everything else the index said of the child stays.
  const { data: _, ...kept } = structuredClone(was);
  const descriptor: Descriptor = { ...kept, mediaType, digest, size };
  return { descriptor, open: async () => image };
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.[REFERENCE_TYPE] === 'attestation-manifest';
}

function attested(d: Descriptor): string {
  return d.annotations?.[REFERENCE_DIGEST] ?? '';
}
