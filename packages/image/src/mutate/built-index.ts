import { type Digest, digestOf, type ImageIndex as ImageIndexDocument } from '@pd/oci-types';
import type { ImageIndex, IndexChild } from '../model.js';

/** An index made in memory: its document, and the children it names (each opened when asked). */
export class BuiltIndex implements ImageIndex {
  readonly kind = 'index' as const;
  readonly location = undefined;
  private readonly bytes: Uint8Array;
  constructor(
    private readonly document: ImageIndexDocument,
    private readonly type: string,
    private readonly kids: IndexChild[],
  ) {
    this.bytes = Buffer.from(JSON.stringify(document));
  }
  async mediaType(): Promise<string> {
    return this.type;
  }
  async rawManifest(): Promise<Uint8Array> {
    return this.bytes;
  }
  async manifest(): Promise<ImageIndexDocument> {
    return structuredClone(this.document);
  }
  async digest(): Promise<Digest> {
    return digestOf(this.bytes);
  }
  async size(): Promise<number> {
    return this.bytes.byteLength;
  }
  async children(): Promise<IndexChild[]> {
    return [...this.kids];
  }
}
