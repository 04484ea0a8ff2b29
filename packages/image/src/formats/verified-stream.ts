import { pipeline, type Readable } from 'node:stream';
import { createVerifier, type Digest, DigestHasher, DigestMismatchError, digestStream } from '@pd/oci-types';
import { tar } from '../lazy-tar.js';

/**
 * Marks a Layer whose `compressed()` stream is verified against its own `digest()` and `size()`
 * (the Layer contract; pd's readers and the core's layers honour it). Sinks skip their own second
 * hashing pass for such layers; any other Layer is verified by the sink.
 */
export const VERIFIED_STREAMS: unique symbol = Symbol.for('@pd/image.verified-streams');

/** A layer marked with `VERIFIED_STREAMS`: its `compressed()` stream verifies itself. */
export interface SelfVerifying {
  readonly [VERIFIED_STREAMS]: true;
}

/** Whether `x` carries the `VERIFIED_STREAMS` mark. */
export function verifiesItself(x: object): x is SelfVerifying {
  return (x as Partial<SelfVerifying>)[VERIFIED_STREAMS] === true;
}

/**
 * `source` passed through a verifier: the returned stream fails (before it ends) when the bytes do
 * not hash to `digest` or are not `size` long. Errors of the source travel to the consumer.
 */
export function verified(source: Readable, digest: Digest, subject: string, size?: number): Readable {
  const verifier = createVerifier(digest, { subject, ...(size === undefined ? {} : { size }) });
  pipeline(source, verifier, () => undefined);
  return verifier;
}

/** The layer tar inside `source` (gzip, zstd or none, sniffed), verified against its diffID. */
export async function verifiedUncompressed(
  source: Readable,
  diffId: Digest,
  subject: string,
): Promise<Readable> {
  return verified((await tar()).decompress(source), diffId, subject);
}

/**
 * Digest of a compressed layer blob that names no digest of its own, and in the same pass proof
 * that it decompresses to `diffId`: the only independent fact an archive gives about such a blob.
 */
export async function digestCompressedLayer(
  source: Readable,
  diffId: Digest,
  subject: string,
): Promise<Digest> {
  const blob = new DigestHasher();
  async function* tap(): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      blob.update(chunk as Buffer);
      yield chunk as Buffer;
    }
  }
  const { digest: actual } = await digestStream((await tar()).decompress(tap()));
  if (actual !== diffId) throw new DigestMismatchError(subject, diffId, actual);
  return blob.digest();
}
