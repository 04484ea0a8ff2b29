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

/** Annotation naming an index.json entry (OCI image-layout spec). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** Full image name containerd and Docker ≥ 25 put beside the ref name. */
export const IMAGE_NAME_ANNOTATION = 'io.containerd.image.name';

const INDEX_LIMIT = 4 * 1024 * 1024;

export interface ReadLayoutOptions {
  /**
   * Which entry of index.json: its `org.opencontainers.image.ref.name` (e.g. `latest`), its
   * `io.containerd.image.name` (compared as normalized references, so `busybox` finds
   * `docker.io/library/busybox:latest`), or its digest. Optional when index.json has one entry.
   */
  ref?: string;
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
  return readLayout(new DirBlobStore(dir), options);
}

/** Read an OCI image layout stored as a tar (`skopeo copy ... oci-archive:`), in place. */
export async function readOciArchive(
  path: string,
  options: ReadLayoutOptions = {},
): Promise<Image | ImageIndex> {
  const archive = await TarIndex.open(path, options);
  return readLayout(new TarBlobStore(archive), options);
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

async function readLayout(store: BlobStore, options: ReadLayoutOptions): Promise<Image | ImageIndex> {
  const index = await readLayoutIndex(store);
  return openDescriptor(store, selectEntry(store.where, index.manifests, options.ref));
}

/** How an index.json entry is shown in messages: its names, else its digest. */
export function entryLabel(d: Descriptor): string {
  const a = d.annotations ?? {};
  return a[IMAGE_NAME_ANNOTATION] ?? a[REF_NAME_ANNOTATION] ?? d.digest;
}

/** The entry `ref` names (see {@link ReadLayoutOptions.ref}); the only entry when `ref` is absent. */
export function selectEntry(where: string, entries: Descriptor[], ref: string | undefined): Descriptor {
  const labels = entries.map(entryLabel);
  if (entries.length === 0) throw new ArchiveFormatError(where, 'index.json lists no images');
  if (ref === undefined) {
    if (entries.length === 1) return entries[0]!;
    throw new AmbiguousImageError(where, entries.length, labels, 'pass ref (a name from index.json)');
  }
  const wanted = tryParseReference(ref);
  const matches = entries.filter((d) => {
    const a = d.annotations ?? {};
    if (a[REF_NAME_ANNOTATION] === ref || d.digest === ref) return true;
    if (!wanted || isDigest(ref)) return false;
    // Names are compared normalized: `busybox`, `busybox:latest`, `docker.io/library/busybox:latest`.
    for (const name of [a[IMAGE_NAME_ANNOTATION], a[REF_NAME_ANNOTATION]]) {
      if (name === undefined) continue;
      if (tryParseReference(name)?.toString() === wanted.toString()) return true;
    }
    return false;
  });
  const distinct = new Set(matches.map((d) => d.digest));
  if (distinct.size === 1) return matches[0]!;
  if (distinct.size === 0) throw new ImageNotFoundError(where, ref, labels);
  throw new AmbiguousImageError(
    where,
    distinct.size,
    matches.map(entryLabel),
    `"${ref}" names more than one; use the full name (io.containerd.image.name) or a digest`,
  );
}
