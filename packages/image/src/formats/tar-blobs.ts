import { mapLimit } from '@pd/internal';
import { type Descriptor, parseDigest } from '@pd/oci-types';
import type { StreamOptions } from '../model.js';
import { type BlobToWrite, type LayerBlob, layerStream } from './image-blobs.js';
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
  const prefetch = startPrefetch(blobs, options);
  try {
    await writeMembers(tar, blobs, naming, options, prefetch.ready);
  } finally {
    await prefetch.stop();
  }
}

async function writeMembers(
  tar: TarWriter,
  blobs: BlobToWrite[],
  naming: BlobNaming,
  options: StreamOptions,
  ready: (blob: LayerBlob) => Promise<void>,
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
    await ready(blob);
    const report = options.onProgress;
    report?.({ id: d.digest, label: name, phase: 'write', done: 0, total: d.size });
    const onData = (done: number) =>
      report?.({ id: d.digest, label: name, phase: 'write', done, total: d.size });
    // A blob in a local file (the blob cache, checked against its digest by the layer) is copied
    // from it, as the OCI layout writer hardlinks it; anything else streams through a verifier.
    const local = await blob.layer.localPath?.();
    if (local !== undefined) await tar.copyFile(name, d.size, local, onData);
    else await tar.stream(name, d.size, await layerStream(blob, options), onData);
  }
}

/** How many layers are fetched ahead at once. */
const PREFETCH_CONCURRENCY = 4;

/**
 * An archive is written in order, one member after another; a registry layer streamed in turn
 * would leave the network idle while the others wait. So every fetchable layer but the first
 * (which streams at once) is fetched into the cache meanwhile, a few at a time, and read back
 * from there when its turn comes. `stop` aborts what is still running and waits for it, so no
 * write outlives the archive's temporary file.
 */
function startPrefetch(
  blobs: BlobToWrite[],
  options: StreamOptions,
): { ready: (blob: LayerBlob) => Promise<void>; stop: () => Promise<void> } {
  const ahead = blobs
    .filter((b): b is LayerBlob => b.kind === 'layer' && b.layer.fetch !== undefined)
    .slice(1);
  const abort = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
  const outcomes = new Map<LayerBlob, { promise: Promise<void>; settle: (e?: unknown) => void }>();
  for (const blob of ahead) {
    let settle!: (e?: unknown) => void;
    const promise = new Promise<void>((resolve, reject) => {
      settle = (e) => (e === undefined ? resolve() : reject(e));
    });
    promise.catch(() => undefined); // seen when the layer's turn comes; unseen if the write stops first
    outcomes.set(blob, { promise, settle });
  }
  // A failed prefetch is reported at its layer's turn; the others go on meanwhile.
  const all = mapLimit(ahead, PREFETCH_CONCURRENCY, async (blob) => {
    const outcome = outcomes.get(blob)!;
    try {
      signal.throwIfAborted();
      await blob.layer.fetch?.({ ...options, signal });
      outcome.settle();
    } catch (e) {
      outcome.settle(e);
    }
  });
  return {
    ready: (blob) => outcomes.get(blob)?.promise ?? Promise.resolve(),
    stop: async () => {
      abort.abort();
      await all;
    },
  };
}
