import type { Readable } from 'node:stream';
import type { Digest } from '@pd/oci-types';
import { VERIFIED_STREAMS } from '../formats/verified-stream.js';
import type { BlobLocation, Layer, StreamOptions } from '../model.js';
import { verifiedUncompressed } from './stream.js';

/** What a `KnownLayer` answers: its metadata, and how to open its blob. */
export interface KnownLayerInit {
  /** Digest of the compressed blob. */
  digest: Digest;
  /** Digest of the uncompressed tar. */
  diffId: Digest;
  /** Size of the compressed blob in bytes. */
  size: number;
  mediaType: string;
  /** Opens the blob; the stream must be verified against `digest` (or come from a verified store). */
  open: (opts: StreamOptions) => Promise<Readable>;
  /** Annotations for the layer's manifest descriptor. */
  annotations?: Record<string, string>;
  /** The registry repository that holds the blob already, if one does. */
  location?: BlobLocation;
  /** A local file holding exactly the blob, if any (see `Layer.localPath`). */
  localPath?: () => Promise<string | undefined>;
  /** `open` verifies the bytes against `digest` and `size` itself: sinks need not hash again. */
  verified?: boolean;
}

/**
 * A layer whose metadata is all known up front (built into the cache, read from a file): every
 * question is answered without I/O, and bytes flow only from `compressed()`/`uncompressed()`.
 */
export class KnownLayer implements Layer {
  readonly location: BlobLocation | undefined;
  constructor(private readonly init: KnownLayerInit) {
    this.location = init.location;
    // Only a layer whose streams really are verified may say so (see formats' VERIFIED_STREAMS).
    if (init.verified) Object.defineProperty(this, VERIFIED_STREAMS, { value: true, enumerable: false });
  }
  async digest(): Promise<Digest> {
    return this.init.digest;
  }
  async diffId(): Promise<Digest> {
    return this.init.diffId;
  }
  async size(): Promise<number> {
    return this.init.size;
  }
  async mediaType(): Promise<string> {
    return this.init.mediaType;
  }
  async annotations(): Promise<Record<string, string> | undefined> {
    return this.init.annotations;
  }
  async localPath(): Promise<string | undefined> {
    return this.init.localPath?.();
  }
  compressed(opts: StreamOptions = {}): Promise<Readable> {
    return this.init.open(opts);
  }
  uncompressed(opts: StreamOptions = {}): Promise<Readable> {
    return verifiedUncompressed(this, opts);
  }
}
