import { pipeline, type Readable } from 'node:stream';
import { createVerifier } from '@pd/oci-types';
import { tar } from '../lazy-tar.js';
import type { Layer, StreamOptions } from '../model.js';

/**
 * The layer's tar: its compressed stream decompressed (compression sniffed from the bytes) and
 * verified against the diffID, so a layer whose blob matches its digest but whose content does
 * not match the config still fails.
 */
export async function verifiedUncompressed(layer: Layer, opts: StreamOptions = {}): Promise<Readable> {
  const [diffId, compressed, { decompress }] = await Promise.all([
    layer.diffId(),
    layer.compressed(opts),
    tar(),
  ]);
  return pipeline(
    decompress(compressed),
    createVerifier(diffId, { subject: `layer ${diffId} (uncompressed)` }),
    () => undefined,
  );
}
