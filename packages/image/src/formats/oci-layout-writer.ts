import { link, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { abortGroup, mapLimit } from '@pd/internal';
import {
  type Descriptor,
  InvalidReferenceError,
  MediaType,
  OCI_LAYOUT_VERSION,
  type OciImageIndex,
  parseJson,
  validateOciLayout,
  validateOciLayoutIndex,
} from '@pd/oci-types';
import { BatchedFileWriter, pipeInto, writeAll } from '@pd/tar/file-io';
import type { Image, ImageIndex, Layer, StreamOptions } from '../model.js';
import { tempPathBeside, withLockFile, writeFileAtomically } from './atomic-file.js';
import { blobPath } from './blob-store.js';
import { LayoutError } from './errors.js';
import {
  type BlobToWrite,
  type LayerBlob,
  layerStream,
  type ManifestPolicy,
  planBlobs,
} from './image-blobs.js';
import { IMAGE_NAME_ANNOTATION, REF_NAME_ANNOTATION } from './oci-layout-reader.js';
import { combinedNames, writeBlobMembers } from './tar-blobs.js';
import { TarWriter } from './tar-writer.js';
import { verified } from './verified-stream.js';

/** Options of `writeOciLayout` and `writeOciArchive`. */
export interface WriteOciOptions extends StreamOptions {
  /**
   * Name of the entry in index.json (`org.opencontainers.image.ref.name`), e.g. `latest` or `v1.2`.
   * Appending to a layout replaces an entry of the same name and keeps the others.
   */
  tag?: string;
  /**
   * Full name of the image (`io.containerd.image.name`, e.g. `docker.io/library/busybox:1.36`),
   * as containerd and Docker ≥ 25 write it. With it, an entry of the same `tag` but another name is
   * kept: two images pulled as `app:1` and `db:1` into one layout both stay, told apart by name.
   */
  name?: string;
  /**
   * `oci` (default): Docker schema 2 manifests and manifest lists are written as their OCI
   * equivalents (same config and layer blobs, new manifest digests), since skopeo and umoci find
   * only OCI media types in a layout. `keep`: manifests byte for byte, digests preserved (for
   * readers like crane, oras or containerd that accept Docker types in a layout).
   */
  manifests?: ManifestPolicy;
}

// OCI image-layout: ref names are components of [A-Za-z0-9]+ joined by separators -._:@+ or --, optionally with /.
const REF_NAME =
  /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

function checkTag(tag: string | undefined): void {
  if (tag !== undefined && !REF_NAME.test(tag)) {
    throw new InvalidReferenceError(
      tag,
      'not a valid OCI layout ref name',
      'use letters and digits separated by - . _ : @ + or /, e.g. latest or v1.2',
    );
  }
}

function entryFor(root: Descriptor, options: WriteOciOptions): Descriptor {
  const { mediaType, digest, size } = root;
  const annotations = {
    ...(options.name !== undefined ? { [IMAGE_NAME_ANNOTATION]: options.name } : {}),
    ...(options.tag !== undefined ? { [REF_NAME_ANNOTATION]: options.tag } : {}),
  };
  return Object.keys(annotations).length
    ? { mediaType, digest, size, annotations }
    : { mediaType, digest, size };
}

/** Whether an index.json entry stays beside the new `entry` (see {@link WriteOciOptions.tag}). */
function keeps(d: Descriptor, entry: Descriptor, options: WriteOciOptions): boolean {
  const name = d.annotations?.[REF_NAME_ANNOTATION];
  if (options.tag === undefined) return !(name === undefined && d.digest === entry.digest);
  if (name !== options.tag) return true;
  const image = d.annotations?.[IMAGE_NAME_ANNOTATION];
  return options.name !== undefined && image !== undefined && image !== options.name;
}

/**
 * Write an image (or an index and all its children) into an OCI image layout directory, creating it
 * or adding to it. Blobs already present with the right size are kept, new ones are verified on the
 * way and renamed into place, and index.json is replaced atomically at the end. Returns the
 * descriptor added to index.json.
 */
export async function writeOciLayout(
  dir: string,
  root: Image | ImageIndex,
  options: WriteOciOptions = {},
): Promise<Descriptor> {
  checkTag(options.tag);
  // On a failure the other transfers are aborted and awaited, so that none is still creating
  // files when the directory is removed below.
  const stop = abortGroup(options.signal);
  const { signal } = stop;
  const early = fetchFirstLayers(dir, root, { ...options, signal });
  let plan: Awaited<ReturnType<typeof planBlobs>>;
  try {
    plan = await planBlobs(root, options.manifests ?? 'oci');
  } catch (e) {
    stop.abort();
    await early;
    throw e;
  }
  // The first directory this call created (undefined when `dir` existed): a failure before the
  // index is written removes it, so a failed pull into a new layout leaves nothing behind.
  let created: string | undefined;
  try {
    created = await mkdir(dir, { recursive: true });
    await prepareLayout(dir);
    // Blobs are content-addressed and written through temp files, so several may be written at
    // once (and by several processes); only the index.json update needs the lock.
    await mapLimit(
      plan.blobs,
      BLOB_CONCURRENCY,
      (blob) => {
        signal.throwIfAborted();
        return writeBlobFile(dir, blob, { ...options, signal });
      },
      { settle: true, onError: () => stop.abort() },
    );
    await early;
  } catch (e) {
    stop.abort();
    await early;
    if (created !== undefined) await removeUnindexed(created, dir);
    throw e;
  }
  const entry = entryFor(plan.descriptor, options);
  await updateIndex(dir, (manifests) => [...manifests.filter((d) => keeps(d, entry, options)), entry]);
  return entry;
}

/**
 * Replace index.json's manifests with what `change` makes of them, under the index lock (an absent
 * index.json counts as empty); `change` returning undefined leaves the file as it is.
 */
async function updateIndex(
  dir: string,
  change: (manifests: Descriptor[]) => Descriptor[] | undefined,
): Promise<void> {
  const indexPath = join(dir, 'index.json');
  await withLockFile(indexPath, async () => {
    const index: OciImageIndex = (await prepareLayout(dir)) ?? {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [],
    };
    const manifests = change(index.manifests);
    if (manifests === undefined) return;
    const updated = { ...index, manifests };
    await writeFileAtomically(indexPath, (fh) => writeAll(fh, [Buffer.from(JSON.stringify(updated))]));
  });
}

/** Content for `addToLayout`: a blob by its descriptor, and how to open its bytes (only when absent). */
export interface RawBlob {
  descriptor: Descriptor;
  open: () => Promise<Readable>;
}

/**
 * Add content that is not an image (referrers: signatures, SBOMs) to a layout: blobs it lacks are
 * written, verified against their digests, and each of `entries` is appended to index.json unless
 * a descriptor of that digest is already listed. The layout must exist.
 */
export async function addToLayout(
  dir: string,
  blobs: readonly RawBlob[],
  entries: readonly Descriptor[],
  options: StreamOptions = {},
): Promise<void> {
  if ((await prepareLayout(dir)) === undefined) throw new LayoutError(dir, 'has no index.json');
  for (const blob of blobs) {
    const d = blob.descriptor;
    const target = join(dir, blobPath(d.digest));
    if ((await sizeIfExists(target)) === d.size) continue;
    await mkdir(dirname(target), { recursive: true });
    await writeFileAtomically(target, async (fh) => {
      const out = new BatchedFileWriter(fh);
      await pipeInto(out, verified(await blob.open(), d.digest, `blob ${d.digest}`, d.size));
      await out.flush();
    });
    options.onProgress?.({ id: d.digest, phase: 'write', done: d.size, total: d.size });
  }
  await updateIndex(dir, (manifests) => {
    const listed = new Set(manifests.map((m) => m.digest));
    const added = entries.filter((e) => !listed.has(e.digest));
    return added.length === 0 ? undefined : [...manifests, ...added];
  });
}

/**
 * Remove a layout directory this process created, unless another writer has indexed something in
 * it meanwhile (checked under the index lock, which writers hold while they add their entry).
 */
async function removeUnindexed(created: string, dir: string): Promise<void> {
  const indexPath = join(dir, 'index.json');
  await withLockFile(indexPath, async () => {
    if ((await readIfExists(indexPath)) === undefined) await rm(created, { recursive: true, force: true });
  }).catch(() => undefined);
}

/**
 * Blobs written at once: as many as the registry client downloads from one registry, a push
 * uploads and skopeo copies at a time. With 4, an image's small first layer held a slot that a
 * large layer then waited for, and that layer finished alone at the end: over TLS, where Node
 * decrypts on one thread, 4 large layers and a small one pulled in 871 against 890 ms (24
 * alternating runs, medians); over plain HTTP no different. Each download holds 4 MiB of write
 * buffers.
 */
const BLOB_CONCURRENCY = 6;

/**
 * Start downloading the first layers of a registry image into the cache while planBlobs fetches
 * and checks its config: the layers need nothing of it, and waiting cost a round trip before the
 * first layer byte. Only the cache is written (the layout gets a blob once the plan holds); the
 * writes join these downloads (the cache shares one download of a blob). Layers the layout or
 * the cache holds already are left alone. Settles when the downloads do; their failures are the
 * writes' to report.
 */
async function fetchFirstLayers(
  dir: string,
  root: Image | ImageIndex,
  options: StreamOptions,
): Promise<void> {
  if (root.kind !== 'image') return;
  try {
    const layers = (await root.layers()).slice(0, BLOB_CONCURRENCY);
    await Promise.allSettled(
      layers.map(async (layer) => {
        if (!layer.fetch) return; // not a registry layer: nothing to start early
        const d = { digest: await layer.digest(), size: await layer.size() };
        if ((await sizeIfExists(join(dir, blobPath(d.digest)))) !== d.size)
          await fetchIntoCache(layer, options);
      }),
    );
  } catch {
    // planBlobs meets the same problem and reports it
  }
}

/** Check or create `oci-layout`; return the current index.json, if any. */
async function prepareLayout(dir: string): Promise<OciImageIndex | undefined> {
  const marker = join(dir, 'oci-layout');
  const markerBytes = await readIfExists(marker);
  if (markerBytes === undefined) {
    if ((await readIfExists(join(dir, 'index.json'))) !== undefined) {
      throw new LayoutError(
        dir,
        'has an index.json but no oci-layout file',
        'refusing to modify an unknown directory',
      );
    }
    const data = Buffer.from(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
    await writeFileAtomically(marker, (fh) => writeAll(fh, [data]));
    return undefined;
  }
  const layout = validateOciLayout(parseJson(markerBytes, 'oci-layout file'));
  if (!layout.imageLayoutVersion.startsWith('1.')) {
    throw new LayoutError(dir, `unsupported image layout version ${layout.imageLayoutVersion}`);
  }
  const index = await readIfExists(join(dir, 'index.json'));
  return index === undefined ? undefined : validateOciLayoutIndex(parseJson(index, 'OCI layout index.json'));
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function sizeIfExists(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Errors after which a hardlink is replaced by a copy: other filesystem, no permission, too many links. */
const LINK_FALLBACK = new Set(['EXDEV', 'EPERM', 'EACCES', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

async function writeBlobFile(dir: string, blob: BlobToWrite, options: StreamOptions): Promise<void> {
  const d = blob.descriptor;
  const target = join(dir, blobPath(d.digest));
  const have = await sizeIfExists(target);
  // Blobs are content-addressed: a file of the right size under the digest's name is that blob.
  if (have === d.size) {
    options.onProgress?.({ id: d.digest, phase: 'skip', done: d.size, total: d.size });
    return;
  }
  await mkdir(dirname(target), { recursive: true });
  if (blob.kind !== 'layer') {
    await writeFileAtomically(target, (fh) => writeAll(fh, [blob.data]));
    return;
  }
  await fetchIntoCache(blob.layer, options);
  if (await linkLocal(blob, target)) {
    options.onProgress?.({ id: d.digest, phase: 'write', done: d.size, total: d.size });
    return;
  }
  await writeFileAtomically(
    target,
    async (fh) => {
      let done = 0;
      options.onProgress?.({ id: d.digest, phase: 'write', done, total: d.size });
      const out = new BatchedFileWriter(fh);
      await pipeInto(out, await layerStream(blob, options), (chunk) => {
        done += chunk.byteLength;
        options.onProgress?.({ id: d.digest, phase: 'write', done, total: d.size });
      });
      await out.flush();
    },
    { sync: false },
  );
}

/**
 * A layer that can be fetched into a local cache (a registry layer) and is not there yet is
 * fetched there, to be hardlinked into the layout: one write of the bytes instead of two.
 */
async function fetchIntoCache(layer: Layer, options: StreamOptions): Promise<void> {
  if (layer.fetch && (await layer.localPath?.()) === undefined) await layer.fetch(options);
}

/** Hardlink the layer's local file into place when it offers one of the right size. */
async function linkLocal(blob: LayerBlob, target: string): Promise<boolean> {
  const source = await blob.layer.localPath?.();
  if (source === undefined || (await sizeIfExists(source)) !== blob.descriptor.size) return false;
  const tmp = tempPathBeside(target);
  try {
    await link(source, tmp);
  } catch (e) {
    if (LINK_FALLBACK.has((e as NodeJS.ErrnoException).code ?? '')) return false;
    throw e;
  }
  try {
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return true;
}

/**
 * Write an image or index as a tar of an OCI image layout (`oci-layout`, `index.json`, `blobs/`),
 * deterministically, through a temporary file beside `path`. Returns the index.json entry.
 */
export async function writeOciArchive(
  path: string,
  root: Image | ImageIndex,
  options: WriteOciOptions = {},
): Promise<Descriptor> {
  checkTag(options.tag);
  const plan = await planBlobs(root, options.manifests ?? 'oci');
  const entry = entryFor(plan.descriptor, options);
  const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [entry] };
  await writeFileAtomically(
    path,
    async (fh) => {
      const tar = new TarWriter(fh);
      await tar.file('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION })));
      await tar.file('index.json', Buffer.from(JSON.stringify(index)));
      await writeBlobMembers(tar, plan.blobs, combinedNames, options);
      await tar.finish();
    },
    { sync: false },
  );
  return entry;
}
