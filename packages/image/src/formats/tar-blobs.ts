import { type Descriptor, parseDigest } from '@pd/oci-types';
import type { StreamOptions } from '../model.js';
import { type BlobToWrite, layerStream } from './image-blobs.js';
import type { TarWriter } from './tar-writer.js';

/** Member names of blobs in one archive layout. */
export interface BlobNaming {
  config(d: Descriptor): string;
  layer(d: Descriptor): string;
  manifest(d: Descriptor): string;
}

/** `blobs/<algorithm>/<hex>`, as in an OCI image layout. */
export function blobName(d: Descriptor): string {
  const { algorithm, hex } = parseDigest(d.digest);
  return `blobs/${algorithm}/${hex}`;
}

export const combinedNames: BlobNaming = { config: blobName, layer: blobName, manifest: blobName };

function memberName(naming: BlobNaming, b: BlobToWrite): string {
  if (b.kind === 'layer') return naming.layer(b.descriptor);
  if (b.kind === 'config') return naming.config(b.descriptor);
  return naming.manifest(b.descriptor);
}

/**
 * Write blobs as tar members in the given order, each member once, each directory once before its
 * first member. Layers stream from their source through a verifier: a digest or size error fails
 * the write (and the caller's temporary file is removed).
 */
export async function writeBlobMembers(
  tar: TarWriter,
  blobs: BlobToWrite[],
  naming: BlobNaming,
  options: StreamOptions = {},
): Promise<void> {
  const written = new Set<string>();
  for (const blob of blobs) {
    options.signal?.throwIfAborted();
    const name = memberName(naming, blob);
    if (written.has(name)) continue;
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (written.has(`${dir}/`)) continue;
      written.add(`${dir}/`);
      await tar.directory(dir);
    }
    written.add(name);
    const d = blob.descriptor;
    if (blob.kind !== 'layer') {
      await tar.file(name, blob.data);
      continue;
    }
    const report = options.onProgress;
    report?.({ id: d.digest, label: name, phase: 'write', done: 0, total: d.size });
    await tar.stream(name, d.size, await layerStream(blob, options), (done) =>
      report?.({ id: d.digest, label: name, phase: 'write', done, total: d.size }),
    );
  }
}
