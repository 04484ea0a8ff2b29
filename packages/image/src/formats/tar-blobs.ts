import { type AbortGroup, abortGroup } from '@pd/internal';
import { type Descriptor, parseDigest } from '@pd/oci-types';
import type { Layer, StreamOptions } from '../model.js';
import { type BlobToWrite, layerStream } from './image-blobs.js';
import type { FileRegion, TarWriter } from './tar-writer.js';

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
 * the write (and the caller's temporary file is removed). A layer that can write itself into the
 * file (a registry blob: `Layer.writeCompressedAt`) gets its member's place reserved and fills it
 * meanwhile, beside the others: an archive's offsets all follow from the sizes, so a pull into one
 * fetches every layer at once and writes each byte once, with no stop in the blob cache.
 */
export async function writeBlobMembers(
  tar: TarWriter,
  blobs: BlobToWrite[],
  naming: BlobNaming,
  options: StreamOptions = {},
): Promise<void> {
  const fills = new Fills(options);
  try {
    await writeMembers(tar, blobs, naming, options, fills);
    await fills.done();
  } finally {
    await fills.stop();
  }
}

async function writeMembers(
  tar: TarWriter,
  blobs: BlobToWrite[],
  naming: BlobNaming,
  options: StreamOptions,
  fills: Fills,
): Promise<void> {
  const written = new Set<string>();
  for (const blob of blobs) {
    options.signal?.throwIfAborted();
    fills.throwIfFailed();
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
    // A blob in a local file (the blob cache, checked against its digest by the layer) is copied
    // from it, as the OCI layout writer hardlinks it.
    const local = await blob.layer.localPath?.();
    if (local === undefined && blob.layer.writeCompressedAt) {
      fills.start(blob.layer, await tar.reserve(name, d.size));
      continue;
    }
    const report = options.onProgress;
    report?.({ id: d.digest, label: name, phase: 'write', done: 0, total: d.size });
    const onData = (done: number) =>
      report?.({ id: d.digest, label: name, phase: 'write', done, total: d.size });
    if (local !== undefined) await tar.copyFile(name, d.size, local, onData);
    else await tar.stream(name, d.size, await layerStream(blob, options), onData);
  }
}

/**
 * The layers writing themselves into reserved members. The first failure stops the others; `stop`
 * aborts what still runs and waits for it, so no write outlives the archive's temporary file.
 */
class Fills {
  private readonly group: AbortGroup;
  private readonly running: Promise<void>[] = [];
  private failure: { error: unknown } | undefined;
  private readonly options: StreamOptions;

  constructor(options: StreamOptions) {
    this.group = abortGroup(options.signal);
    this.options = { ...options, signal: this.group.signal };
  }

  start(layer: Layer, region: FileRegion): void {
    const fill = layer.writeCompressedAt!(region.file, region.position, this.options).catch(
      (error: unknown) => {
        if (this.failure) return;
        this.failure = { error };
        this.group.abort(error);
      },
    );
    this.running.push(fill);
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  async done(): Promise<void> {
    await Promise.all(this.running);
    this.throwIfFailed();
  }

  async stop(): Promise<void> {
    this.group.abort();
    await Promise.all(this.running);
  }
}
