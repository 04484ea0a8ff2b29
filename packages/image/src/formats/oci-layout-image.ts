import type { Readable } from 'node:stream';
import {
  type Descriptor,
  type Digest,
  type ImageConfig,
  type ImageIndex as ImageIndexDocument,
  type ImageManifest,
  indexMediaType,
  isImageManifestMediaType,
  isIndexMediaType,
  manifestMediaType,
  parseImageConfig,
  parseManifest,
  UnsupportedMediaTypeError,
} from '@pd/oci-types';
import { FileSlice } from '@pd/tar/file-io';
import type { Image, ImageIndex, IndexChild, Layer, StreamOptions } from '../model.js';
import { type BlobStore, readVerified } from './blob-store.js';
import { ArchiveFormatError } from './errors.js';
import { lazy } from './lazy.js';
import { type SelfVerifying, VERIFIED_STREAMS, verified, verifiedUncompressed } from './verified-stream.js';

/** An image or index named by a descriptor in a layout (directory or tar). Lazy: nothing is read yet. */
export function openDescriptor(store: BlobStore, d: Descriptor): Image | ImageIndex {
  if (isIndexMediaType(d.mediaType)) return new LayoutIndex(store, d);
  if (isImageManifestMediaType(d.mediaType)) return new LayoutImage(store, d);
  throw new UnsupportedMediaTypeError(
    d.mediaType,
    'manifest',
    `${d.digest} in ${store.where} is neither an image manifest nor an index`,
  );
}

/** A layer blob of a layout: digest, size and media type from the manifest, diffID from the config. */
export class LayoutLayer implements Layer, SelfVerifying {
  readonly [VERIFIED_STREAMS] = true as const;
  constructor(
    private readonly store: BlobStore,
    private readonly descriptor: Descriptor,
    private readonly diffIdOf: () => Promise<Digest>,
  ) {}

  async digest(): Promise<Digest> {
    return this.descriptor.digest;
  }
  diffId(): Promise<Digest> {
    return this.diffIdOf();
  }
  async size(): Promise<number> {
    return this.descriptor.size;
  }
  async mediaType(): Promise<string> {
    return this.descriptor.mediaType;
  }
  async annotations(): Promise<Record<string, string> | undefined> {
    return this.descriptor.annotations;
  }

  async compressed(options: StreamOptions = {}): Promise<Readable> {
    const d = this.descriptor;
    const source = await this.store.openBlob(d.digest, { signal: options.signal });
    return verified(source, d.digest, `layer ${d.digest} in ${this.store.where}`, d.size);
  }

  async compressedFile(): Promise<FileSlice | undefined> {
    const d = this.descriptor;
    const at = await this.store.blobFile(d.digest);
    if (!at || at.size !== d.size) return undefined;
    return new FileSlice(at.path, at.start, d.size, {
      digest: d.digest,
      subject: `layer ${d.digest} in ${this.store.where}`,
    });
  }

  /** The blob as extract() reads it: checked against its digest and, decompressed, the diffID. */
  async tarFile(): Promise<FileSlice | undefined> {
    return (await this.compressedFile())?.decompressingTo(await this.diffId());
  }

  async uncompressed(options: StreamOptions = {}): Promise<Readable> {
    const diffId = await this.diffId();
    // The compressed bytes are checked on the way too: a blob that decompresses fine can still be the wrong one.
    return verifiedUncompressed(
      await this.compressed(options),
      diffId,
      `uncompressed layer ${this.descriptor.digest} in ${this.store.where}`,
    );
  }
}

/**
 * An image of a layout, named by its manifest descriptor. Lazy: the manifest and config are read
 * when asked for.
 */
export class LayoutImage implements Image {
  readonly kind = 'image' as const;

  constructor(
    private readonly store: BlobStore,
    private readonly descriptor: Descriptor,
  ) {}

  readonly rawManifest = lazy(() => readVerified(this.store, this.descriptor, 'manifest'));

  readonly manifest = lazy(async (): Promise<ImageManifest> => {
    const parsed = parseManifest(await this.rawManifest(), this.descriptor.mediaType);
    if (parsed.kind !== 'manifest') {
      throw new ArchiveFormatError(
        this.store.where,
        `${this.descriptor.digest} is an index, not an image manifest`,
      );
    }
    return parsed.manifest;
  });

  async mediaType(): Promise<string> {
    return manifestMediaType(await this.manifest());
  }
  async digest(): Promise<Digest> {
    return this.descriptor.digest;
  }
  async size(): Promise<number> {
    return this.descriptor.size;
  }

  readonly rawConfig = lazy(async () => readVerified(this.store, (await this.manifest()).config, 'config'));
  readonly config = lazy(async (): Promise<ImageConfig> => parseImageConfig(await this.rawConfig()));

  async configDigest(): Promise<Digest> {
    return (await this.manifest()).config.digest;
  }

  readonly layers = lazy(async (): Promise<Layer[]> => {
    const manifest = await this.manifest();
    // The config is read only when a diffID is asked for: writers and pushers never need it.
    const diffIds = lazy(async () => {
      const ids = (await this.config()).rootfs.diff_ids;
      if (ids.length !== manifest.layers.length) {
        throw new ArchiveFormatError(
          this.store.where,
          `image ${this.descriptor.digest} has ${manifest.layers.length} layers but its config lists ${ids.length} diff_ids`,
        );
      }
      return ids;
    });
    return manifest.layers.map((d, i) => new LayoutLayer(this.store, d, async () => (await diffIds())[i]!));
  });
}

/** An index of a layout, named by its descriptor. Lazy: children are opened when asked for. */
export class LayoutIndex implements ImageIndex {
  readonly kind = 'index' as const;

  constructor(
    private readonly store: BlobStore,
    private readonly descriptor: Descriptor,
  ) {}

  readonly rawManifest = lazy(() => readVerified(this.store, this.descriptor, 'index'));

  readonly manifest = lazy(async (): Promise<ImageIndexDocument> => {
    const parsed = parseManifest(await this.rawManifest(), this.descriptor.mediaType);
    if (parsed.kind !== 'index') {
      throw new ArchiveFormatError(
        this.store.where,
        `${this.descriptor.digest} is an image manifest, not an index`,
      );
    }
    return parsed.index;
  });

  async mediaType(): Promise<string> {
    return indexMediaType(await this.manifest());
  }
  async digest(): Promise<Digest> {
    return this.descriptor.digest;
  }
  async size(): Promise<number> {
    return this.descriptor.size;
  }

  async children(): Promise<IndexChild[]> {
    return (await this.manifest()).manifests.map((d) => ({
      descriptor: d,
      open: async () => openDescriptor(this.store, d),
    }));
  }
}
