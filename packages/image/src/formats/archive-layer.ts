import type { Readable } from 'node:stream';
import { type Compression, type Digest, layerMediaType } from '@pd/oci-types';
import { FileSlice } from '@pd/tar/file-io';
import { tar } from '../lazy-tar.js';
import type { Layer, StreamOptions } from '../model.js';
import { lazy } from './lazy.js';
import type { TarIndex, TarMember } from './tar-index.js';
import {
  digestCompressedLayer,
  type SelfVerifying,
  VERIFIED_STREAMS,
  verified,
  verifiedUncompressed,
} from './verified-stream.js';

/** What the archive's other metadata already says about a layer member. */
export interface KnownLayerFacts {
  /** From a `blobs/<alg>/<hex>` member name (checked while streaming). */
  digest?: Digest | undefined;
  /** From an OCI manifest stored in the archive. */
  mediaType?: string | undefined;
  /** Without a stored manifest: the family of the manifest the image makes up (default OCI). */
  family?: (() => Promise<'oci' | 'docker'>) | undefined;
}

/**
 * A layer stored as a member of a docker archive. Its diffID comes from the config (no I/O), its
 * size from the tar header, its compression from the member's magic bytes. The digest of an
 * uncompressed member is its diffID; a compressed member not named by digest is hashed once, in a
 * pass that also proves it decompresses to the diffID.
 */
export class DockerArchiveLayer implements Layer, SelfVerifying {
  readonly [VERIFIED_STREAMS] = true as const;
  private readonly subject: string;

  constructor(
    private readonly archive: TarIndex,
    private readonly member: TarMember,
    private readonly expectedDiffId: Digest,
    private readonly known: KnownLayerFacts = {},
  ) {
    this.subject = `layer ${member.name} of ${archive.path}`;
  }

  readonly compression = lazy(
    async (): Promise<Compression> =>
      (await tar()).detectCompression(await this.archive.head(this.member, 6)),
  );

  readonly digest = lazy(async (): Promise<Digest> => {
    if (this.known.digest) return this.known.digest;
    if ((await this.compression()) === 'none') return this.expectedDiffId;
    return digestCompressedLayer(this.archive.openMember(this.member), this.expectedDiffId, this.subject);
  });

  async diffId(): Promise<Digest> {
    return this.expectedDiffId;
  }

  async size(): Promise<number> {
    return this.member.size;
  }

  async mediaType(): Promise<string> {
    if (this.known.mediaType) return this.known.mediaType;
    return layerMediaType(await this.compression(), (await this.known.family?.()) ?? 'oci');
  }

  async compressed(options: StreamOptions = {}): Promise<Readable> {
    const digest = await this.digest();
    return verified(this.archive.openMember(this.member, options), digest, this.subject, this.member.size);
  }

  /** The member's bytes in the archive, checked as read. */
  async compressedFile(): Promise<FileSlice> {
    return new FileSlice(this.archive.path, this.member.offset, this.member.size, {
      digest: await this.digest(),
      subject: this.subject,
    });
  }

  /** An uncompressed member is the layer tar itself. */
  async uncompressedFile(): Promise<FileSlice | undefined> {
    return (await this.compression()) === 'none' ? this.compressedFile() : undefined;
  }

  /** The member as extract() reads it; a compressed one only when a name gave its digest. */
  async tarFile(): Promise<FileSlice | undefined> {
    if ((await this.compression()) === 'none') return this.compressedFile();
    return this.known.digest ? (await this.compressedFile()).decompressingTo(this.expectedDiffId) : undefined;
  }

  async uncompressed(options: StreamOptions = {}): Promise<Readable> {
    // An uncompressed member is already verified against its diffID by compressed().
    if ((await this.compression()) === 'none') return this.compressed(options);
    const source = this.known.digest
      ? await this.compressed(options)
      : this.archive.openMember(this.member, options);
    return verifiedUncompressed(source, this.expectedDiffId, `uncompressed ${this.subject}`);
  }
}
