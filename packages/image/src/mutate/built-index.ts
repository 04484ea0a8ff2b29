import {
  type Digest,
  digestOf,
  type ImageIndex as ImageIndexDocument,
  MediaType,
  toOciIndex,
} from '@pd/oci-types';
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

/** A child a Docker manifest list can name: a Docker manifest, without annotations. */
export function listable(c: IndexChild): boolean {
  return c.descriptor.mediaType === MediaType.DockerManifest && !c.descriptor.annotations;
}

/**
 * The index `document` (its kind and own annotations kept) naming `children` in order; a manifest
 * list given an OCI child or an annotated one becomes an OCI index.
 */
export function buildIndex(document: ImageIndexDocument, children: IndexChild[]): ImageIndex {
  let doc = document;
  if (doc.mediaType === MediaType.DockerManifestList && !children.every(listable)) doc = toOciIndex(doc);
  doc.manifests = children.map((c) => c.descriptor);
  return new BuiltIndex(doc, doc.mediaType ?? MediaType.OciIndex, children);
}
