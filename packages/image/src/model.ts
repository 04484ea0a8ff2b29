import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type {
  Descriptor,
  Digest,
  ImageConfig,
  ImageIndex as ImageIndexDocument,
  ImageManifest,
} from '@pd/oci-types';
import type { FileSlice } from '@pd/tar';

/** Progress of one transfer (a blob download, an upload, a layer build). */
export interface ProgressEvent {
  /** Stable id of the transfer, usually the blob digest (or a path for a layer being built). */
  id: string;
  label?: string;
  phase?: 'download' | 'upload' | 'mount' | 'skip' | 'build' | 'write' | 'unpack';
  done: number;
  total?: number;
}

/** Options of every operation that moves bytes. */
export interface StreamOptions {
  /** Aborts the transfer. */
  signal?: AbortSignal;
  /** Called as bytes move. */
  onProgress?: (event: ProgressEvent) => void;
}

/**
 * Where a blob already lives in a registry. Sinks use it to skip (same repository) or mount
 * (same registry, other repository) instead of moving bytes.
 */
export interface BlobLocation {
  registry: string;
  repository: string;
}

/**
 * A filesystem layer, in the spirit of go-containerregistry's v1.Layer. The cheap questions are
 * answered from metadata whenever it is known (a remote layer knows its digest from the manifest and
 * its diffID from the config), and bytes flow only when a stream is opened.
 */
export interface Layer {
  /** Digest of the compressed blob as it appears in a manifest. */
  digest(): Promise<Digest>;
  /** Digest of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId(): Promise<Digest>;
  /** Size of the compressed blob in bytes. */
  size(): Promise<number>;
  mediaType(): Promise<string>;
  /** The blob bytes, verified against `digest()` while they stream. */
  compressed(options?: StreamOptions): Promise<Readable>;
  /** The layer tar, verified against `diffId()` where the source can check it. */
  uncompressed(options?: StreamOptions): Promise<Readable>;
  /** Extra descriptor fields to carry into manifests (annotations, urls). */
  annotations?(): Promise<Record<string, string> | undefined>;
  /** Set when the blob already sits in a registry. */
  readonly location?: BlobLocation | undefined;
  /**
   * Where the layer tar sits uncompressed in a local file (an uncompressed member of a docker
   * archive), checked against `diffId()` as it is read: extractors read it from there with less
   * copying than `uncompressed()` streams. Undefined when it does not.
   */
  uncompressedFile?(): Promise<FileSlice | undefined>;
  /**
   * Where the layer sits in a local file, as a slice that @pd/tar's `extract()` and
   * `applyLayers()` read through reused buffers: the tar itself (checked against `diffId()`), or
   * the compressed blob (checked against `digest()` as read and, decompressed, against
   * `diffId()`). Undefined when it does not sit in a file, or when reading it so would cost a
   * pass of its own (a compressed archive member that no name gives the digest of).
   */
  tarFile?(): Promise<FileSlice | undefined>;
  /**
   * Where the compressed blob sits, as it is, in a local file (a layout's blob, a member of an
   * archive, the blob cache), checked against `digest()` as it is read: uploads send it from there
   * (over plain HTTP straight from the file onto the socket). Undefined when it does not.
   */
  compressedFile?(): Promise<FileSlice | undefined>;
  /**
   * Path of a local file holding exactly the compressed blob (e.g. in the blob cache), when
   * there is one: file sinks may hardlink it instead of copying. The file is immutable.
   */
  localPath?(): Promise<string | undefined>;
  /**
   * Bring the compressed blob into a local file (the blob cache) now, when the layer can: then
   * `localPath` answers and file sinks hardlink it instead of writing the bytes a second time.
   */
  fetch?(opts?: StreamOptions): Promise<void>;
  /**
   * Write the compressed blob, verified, into `file` at `position` (its `size()` bytes, positional
   * writes), when the layer can do that better than a stream: a registry blob goes socket to file.
   * Archive sinks, which know every member's offset before any bytes, fetch layers this way side
   * by side, each written once. On failure the region holds whatever arrived: discard the file.
   */
  writeCompressedAt?(file: FileHandle, position: number, opts?: StreamOptions): Promise<void>;
}

/** A single-platform image: a manifest, a config and layers (base first). */
export interface Image {
  readonly kind: 'image';
  mediaType(): Promise<string>;
  rawManifest(): Promise<Uint8Array>;
  manifest(): Promise<ImageManifest>;
  /** Digest of the raw manifest bytes. */
  digest(): Promise<Digest>;
  /** Size of the raw manifest in bytes. */
  size(): Promise<number>;
  rawConfig(): Promise<Uint8Array>;
  config(): Promise<ImageConfig>;
  configDigest(): Promise<Digest>;
  /** Layers in order, base first. */
  layers(): Promise<Layer[]>;
  /** Set when the manifest and config already sit in a registry. */
  readonly location?: BlobLocation | undefined;
}

/** A child of an index: its descriptor, and a lazy way to open it. */
export interface IndexChild {
  descriptor: Descriptor;
  open(): Promise<Image | ImageIndex>;
}

/** A multi-platform index (OCI image index or Docker manifest list). */
export interface ImageIndex {
  readonly kind: 'index';
  mediaType(): Promise<string>;
  rawManifest(): Promise<Uint8Array>;
  manifest(): Promise<ImageIndexDocument>;
  digest(): Promise<Digest>;
  size(): Promise<number>;
  children(): Promise<IndexChild[]>;
  readonly location?: BlobLocation | undefined;
}

/** A single-platform image or a multi-platform index, told apart by `kind`. */
export type ImageOrIndex = Image | ImageIndex;

/** Whether `x` is a single-platform `Image`. */
export function isImage(x: ImageOrIndex): x is Image {
  return x.kind === 'image';
}

/** Whether `x` is a multi-platform `ImageIndex`. */
export function isIndex(x: ImageOrIndex): x is ImageIndex {
  return x.kind === 'index';
}
