import {
  type Descriptor,
  formatPlatform,
  MediaType,
  normalizePlatform,
  type OciImageIndex,
  type Platform,
  toOciIndex,
} from '@pd/oci-types';
import { InvalidMutationError } from '../errors.js';
import { platformOf } from '../formats/image-blobs.js';
import type { Image, ImageIndex, IndexChild } from '../model.js';
import { buildIndex as build, listable } from './built-index.js';

// Index authoring, as `crane index` and `docker manifest` do it: the children are named by
// descriptor and pushed before the index (blobs mounted where they already are), never unpacked.

/** An image (or index) to list in an index, and what the index says of it. */
export interface IndexEntry {
  image: Image | ImageIndex;
  /** Default for an image: its config's os, architecture, variant and os.version; an index has none. */
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** Options of `newIndex`. */
export interface NewIndexOptions {
  /**
   * `docker` writes a manifest list (its entries must all be Docker schema 2 manifests), `oci` an
   * OCI image index. Default: a manifest list when every entry is a Docker manifest and no
   * annotation is asked for, else an OCI index.
   */
  family?: 'oci' | 'docker';
  /** Annotations of the index itself (OCI only). */
  annotations?: Record<string, string>;
}

/** A new index listing `entries` in order: each image's platform is read from its config. */
export async function newIndex(
  entries: readonly IndexEntry[],
  opts: NewIndexOptions = {},
): Promise<ImageIndex> {
  const children = await Promise.all(entries.map(childOf));
  const docker = dockerWanted(children, opts.family, opts.annotations);
  if (docker)
    return build({ schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [] }, children);
  const document: OciImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  if (opts.annotations) document.annotations = { ...opts.annotations };
  return build(document, children);
}

/**
 * `index` with `entries` added at the end; an entry whose digest the index already lists replaces
 * that entry in place (so adding the same image twice lists it once).
 */
export async function addToIndex(index: ImageIndex, entries: readonly IndexEntry[]): Promise<ImageIndex> {
  const children = [...(await index.children())];
  for (const added of await Promise.all(entries.map(childOf))) {
    const at = children.findIndex((c) => c.descriptor.digest === added.descriptor.digest);
    if (at >= 0) children[at] = added;
    else children.push(added);
  }
  return build(await index.manifest(), children);
}

/** What `removeFromIndex` drops: entries of a platform, or of a digest. */
export interface IndexSelector {
  platform?: Platform;
  digest?: string;
}

/**
 * `index` without the entries `selector` names: a platform names the entries of its os and
 * architecture, and of its variant when it has one (`linux/arm` names v6 and v7, `linux/arm64`
 * names `linux/arm64/v8`). Throws `InvalidMutationError` when none matches.
 */
export async function removeFromIndex(index: ImageIndex, selector: IndexSelector): Promise<ImageIndex> {
  const children = await index.children();
  const kept = children.filter((c) => !selects(c.descriptor, selector));
  if (kept.length === children.length)
    throw new InvalidMutationError(`no entry of the index is ${describe(selector)}`);
  return build(await index.manifest(), kept);
}

/** Changes `annotateIndex` makes. */
export interface IndexAnnotations {
  /** Entries to annotate (default: the index itself). */
  entries?: IndexSelector;
  /** Annotations to set; a value of `null` removes the key. */
  annotations?: Record<string, string | null>;
  /** Replace the entries' platform (as `docker manifest annotate --os/--arch/--variant`). */
  platform?: Platform;
}

/**
 * `index` with annotations (or platforms) set on entries or on the index. A manifest list, which
 * has no annotations, becomes an OCI index when one is set.
 */
export async function annotateIndex(index: ImageIndex, changes: IndexAnnotations): Promise<ImageIndex> {
  let document = await index.manifest();
  const children = await index.children();
  const wantsAnnotations = Object.values(changes.annotations ?? {}).some((v) => v !== null);
  if (wantsAnnotations && document.mediaType === MediaType.DockerManifestList)
    document = toOciIndex(document);
  if (!changes.entries) {
    // A manifest list has no annotations: removing some from one leaves it as it is.
    if (document.mediaType === MediaType.DockerManifestList) return build(document, children);
    const oci = document as OciImageIndex;
    const annotations = edit(oci.annotations, changes.annotations);
    if (annotations) oci.annotations = annotations;
    else delete oci.annotations;
    return build(oci, children);
  }
  let matched = 0;
  const edited = children.map((c): IndexChild => {
    if (!selects(c.descriptor, changes.entries!)) return c;
    matched++;
    const descriptor: Descriptor = { ...c.descriptor };
    if (changes.platform) descriptor.platform = { ...changes.platform };
    const annotations = edit(descriptor.annotations, changes.annotations);
    if (annotations) descriptor.annotations = annotations;
    else delete descriptor.annotations;
    return { descriptor, open: c.open };
  });
  if (matched === 0) throw new InvalidMutationError(`no entry of the index is ${describe(changes.entries)}`);
  return build(document, edited);
}

async function childOf(entry: IndexEntry): Promise<IndexChild> {
  const { image } = entry;
  const [mediaType, digest, size] = await Promise.all([image.mediaType(), image.digest(), image.size()]);
  const descriptor: Descriptor = { mediaType, digest, size };
  const platform = entry.platform ?? (image.kind === 'image' ? platformOf(await image.config()) : undefined);
  if (platform) descriptor.platform = { ...platform };
  if (entry.annotations && Object.keys(entry.annotations).length > 0) {
    descriptor.annotations = { ...entry.annotations };
  }
  return { descriptor, open: async () => image };
}

function dockerWanted(
  children: IndexChild[],
  family: 'oci' | 'docker' | undefined,
  annotations: Record<string, string> | undefined,
): boolean {
  if (family === 'docker') {
    if (!children.every((c) => c.descriptor.mediaType === MediaType.DockerManifest)) {
      throw new InvalidMutationError('a manifest list can list Docker schema 2 manifests only');
    }
    if (annotations || !children.every(listable)) {
      throw new InvalidMutationError('a manifest list has no annotations', 'write an OCI index');
    }
    return true;
  }
  return family === undefined && !annotations && children.length > 0 && children.every(listable);
}

function selects(d: Descriptor, s: IndexSelector): boolean {
  if (s.digest && d.digest !== s.digest) return false;
  if (s.platform && !(d.platform && samePlatform(s.platform, d.platform))) return false;
  return !!(s.digest || s.platform);
}

/** Whether `have` is `want`: same os and architecture, and same variant when `want` names one. */
export function samePlatform(want: Platform, have: Platform): boolean {
  const [w, h] = [normalizePlatform(want), normalizePlatform(have)];
  return w.os === h.os && w.architecture === h.architecture && (!want.variant || w.variant === h.variant);
}

function describe(s: IndexSelector): string {
  return [s.platform && `for ${formatPlatform(s.platform)}`, s.digest].filter(Boolean).join(' and ');
}

function edit(
  current: Record<string, string> | undefined,
  changes: Record<string, string | null> | undefined,
): Record<string, string> | undefined {
  const next = { ...(current ?? {}) };
  for (const [k, v] of Object.entries(changes ?? {})) {
    if (v === null) delete next[k];
    else next[k] = v;
  }
  return Object.keys(next).length > 0 ? next : undefined;
}
