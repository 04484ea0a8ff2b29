import { stat } from 'node:fs/promises';
import {
  type Descriptor,
  isDigest,
  type OciImageIndex,
  parseJson,
  tryParseReference,
  validateOciLayout,
  validateOciLayoutIndex,
} from '@pd/oci-types';
import type { Image, ImageIndex } from '../model.js';
import { type BlobStore, DirBlobStore, TarBlobStore } from './blob-store.js';
import { AmbiguousImageError, ArchiveFormatError, ImageNotFoundError, LayoutError } from './errors.js';
import { openDescriptor } from './oci-layout-image.js';
import { TarIndex } from './tar-index.js';

/** `org.opencontainers.image.ref.name`: the annotation naming an index.json entry (OCI layout spec). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/**
 * `io.containerd.image.name`: the annotation holding the full image name, which containerd and
 * Docker ≥ 25 put beside the ref name.
 */
export const IMAGE_NAME_ANNOTATION = 'io.containerd.image.name';

const INDEX_LIMIT = 4 * 1024 * 1024;

/** Options of `readOciLayout` and `readOciArchive`: which entry of index.json to read. */
export interface ReadLayoutOptions {
  /**
   * Which entry of index.json: its `org.opencontainers.image.ref.name` (e.g. `latest`), its
   * `io.containerd.image.name` (compared as normalized references, so `busybox` finds
   * `docker.io/library/busybox:latest`), or its digest. Optional when index.json has one entry.
   */
  ref?: string;
  /** Which entry of index.json by position (0-based), as `oci:DIR:@N` says. */
  index?: number;
  /** Aborts the scan of an OCI archive's tar headers. */
  signal?: AbortSignal;
}

/** Read an OCI image layout directory. Lazy: only oci-layout and index.json are read here. */
export async function readOciLayout(
  dir: string,
  options: ReadLayoutOptions = {},
): Promise<Image | ImageIndex> {
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new LayoutError(dir, 'no such directory');
  }
  if (!isDir) {
    throw new LayoutError(dir, 'not a directory', 'for a tar of a layout use readOciArchive');
  }
  return readLayout(new DirBlobStore(dir), options, `oci:${dir}`);
}

/** Read an OCI image layout stored as a tar (`skopeo copy ... oci-archive:`), in place. */
export async function readOciArchive(
  path: string,
  options: ReadLayoutOptions = {},
): Promise<Image | ImageIndex> {
  const archive = await TarIndex.open(path, options);
  return readLayout(new TarBlobStore(archive), options, `oci-archive:${path}`);
}

/** Parsed `index.json` of a layout, after checking `oci-layout`. */
export async function readLayoutIndex(store: BlobStore): Promise<OciImageIndex> {
  const marker = await store.readFile('oci-layout', 64 * 1024);
  if (marker === undefined) {
    throw new LayoutError(store.where, 'not an OCI image layout (no oci-layout file)');
  }
  const layout = validateOciLayout(parseJson(marker, 'oci-layout file'));
  if (!layout.imageLayoutVersion.startsWith('1.')) {
    throw new LayoutError(
      store.where,
      `unsupported image layout version ${layout.imageLayoutVersion}`,
      'pd reads layouts of version 1.x',
    );
  }
  const index = await store.readFile('index.json', INDEX_LIMIT);
  if (index === undefined) throw new LayoutError(store.where, 'the layout has no index.json');
  return validateOciLayoutIndex(parseJson(index, 'OCI layout index.json'));
}

async function readLayout(
  store: BlobStore,
  options: ReadLayoutOptions,
  source: string,
): Promise<Image | ImageIndex> {
  const index = await readLayoutIndex(store);
  const how = `name one as ${source}:REF or ${source}:@N`;
  if (options.index === undefined) {
    return openDescriptor(store, selectEntry(store.where, index.manifests, options.ref, how));
  }
  const entry = Number.isInteger(options.index) ? index.manifests[options.index] : undefined;
  if (!entry) {
    throw new ImageNotFoundError(store.where, `@${options.index}`, index.manifests.map(entryLabel), how);
  }
  return openDescriptor(store, entry);
}

/** How an index.json entry is shown in messages: its names, else its digest. */
export function entryLabel(d: Descriptor, position?: number): string {
  const a = d.annotations ?? {};
  const name = a[IMAGE_NAME_ANNOTATION] ?? a[REF_NAME_ANNOTATION] ?? d.digest;
  return position === undefined ? name : `@${position} ${name}`;
}

/** The tag of a full reference (`docker.io/library/busybox:latest` → `latest`), else undefined. */
function tagOf(name: string | undefined): string | undefined {
  if (name === undefined || !/[/:]/.test(name)) return undefined;
  return tryParseReference(name)?.tag;
}

/**
 * The entry `ref` names (see {@link ReadLayoutOptions.ref}); the only entry when `ref` is absent
 * (not counting referrers, which index.json lists with their artifactType).
 * `ref` matches a ref.name exactly, a full image name (normalized), or, when it is a bare tag,
 * the tag of a full name (skopeo writes `oci:DIR:busybox:latest` as that whole ref.name).
 */
export function selectEntry(
  where: string,
  entries: Descriptor[],
  ref: string | undefined,
  how = 'pass ref (a name from index.json)',
): Descriptor {
  const labels = entries.map((d, i) => entryLabel(d, i));
  if (entries.length === 0) throw new ArchiveFormatError(where, 'index.json lists no images');
  if (ref === undefined) {
    if (entries.length === 1) return entries[0]!;
    // Referrers kept beside an image (listed with their artifactType, as pd pull --referrers and
    // oras copy -r write them) are not what a layout without a ref means.
    const images = entries.filter((d) => d.artifactType === undefined);
    if (images.length === 1) return images[0]!;
    throw new AmbiguousImageError(where, entries.length, labels, how);
  }
  const pick = (test: (d: Descriptor) => boolean): Descriptor | undefined => {
    const matches = entries.filter(test);
    const distinct = new Set(matches.map((d) => d.digest));
    if (distinct.size <= 1) return matches[0];
    throw new AmbiguousImageError(
      where,
      distinct.size,
      matches.map((d) => entryLabel(d, entries.indexOf(d))),
      `"${ref}" names more than one; use the full name (io.containerd.image.name), a digest or @N`,
    );
  };
  const names = (d: Descriptor) => {
    const a = d.annotations ?? {};
    return [a[IMAGE_NAME_ANNOTATION], a[REF_NAME_ANNOTATION]];
  };
  const exact = pick((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref || d.digest === ref);
  if (exact) return exact;
  const wanted = isDigest(ref) ? undefined : tryParseReference(ref);
  // Names are compared normalized: `busybox`, `busybox:latest`, `docker.io/library/busybox:latest`.
  const named =
    wanted &&
    pick((d) =>
      names(d).some((n) => n !== undefined && tryParseReference(n)?.toString() === wanted.toString()),
    );
  if (named) return named;
  const bareTag = /^\w[\w.-]{0,127}$/.test(ref);
  const tagged = bareTag && pick((d) => names(d).some((n) => tagOf(n) === ref));
  if (tagged) return tagged;
  throw new ImageNotFoundError(where, ref, labels, how);
}
