import type { Hash } from 'node:crypto';
import type { Transform, TransformCallback } from 'node:stream';
import {
  DigestMismatchError,
  InvalidDigestError,
  SizeMismatchError,
  UnsupportedDigestAlgorithmError,
} from './errors.js';

/**
 * `algorithm:encoded`, e.g. `sha256:e3b0c442...`. Only values that passed {@link parseDigestSyntax}
 * (every document validator checks that) or {@link parseDigest} should be typed so; the algorithm
 * may be one pd cannot compute (see {@link isRegisteredDigestAlgorithm}).
 */
export type Digest = `${string}:${string}` & { readonly __digest?: never };

/** The algorithms the image-spec registers, the only ones pd can hash. */
export type DigestAlgorithm = 'sha256' | 'sha512';

/**
 * node:crypto loads on the first hash, not with this module: it costs 8 ms of start-up, and the
 * CLI's `version` and `--help`, and everything else that reads references and documents without
 * hashing, import this package.
 */
function createHash(algorithm: DigestAlgorithm): Hash {
  return process.getBuiltinModule('node:crypto').createHash(algorithm);
}

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// OCI image-spec descriptor grammar: algorithm-component ([+._-] algorithm-component)* ":" [a-zA-Z0-9=_-]+
const GRAMMAR = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** A digest pd can compute, split into algorithm and hex encoding (what `parseDigest` returns). */
export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/**
 * A digest split by the image-spec grammar, whatever its algorithm (what `parseDigestSyntax`
 * returns).
 */
export interface DigestSyntax {
  /** As written, e.g. `sha256` or `multihash+base58`. */
  algorithm: string;
  /** The part after the colon: lowercase hex for sha256 and sha512, else whatever the grammar allows. */
  encoded: string;
  /** True for sha256 and sha512: the digest can be computed and content verified against it. */
  registered: boolean;
}

/** True for `sha256` and `sha512`, the algorithms the image-spec registers and pd can hash. */
export function isRegisteredDigestAlgorithm(algorithm: string): algorithm is DigestAlgorithm {
  return algorithm === 'sha256' || algorithm === 'sha512';
}

/**
 * Parse a digest the way documents are validated: the image-spec grammar, plus the encoding rules
 * of a registered algorithm (sha256: 64 lowercase hex, sha512: 128). A digest with an unregistered
 * algorithm that follows the grammar passes (descriptor.md: implementations SHOULD allow it), so a
 * manifest mentioning one blob hashed with another algorithm stays readable; hashing or verifying
 * that blob is what fails ({@link parseDigest}). Throws {@link InvalidDigestError}.
 */
export function parseDigestSyntax(input: string): DigestSyntax {
  if (typeof input !== 'string' || input.length === 0) throw new InvalidDigestError(String(input), 'empty');
  const m = GRAMMAR.exec(input);
  if (!m) throw new InvalidDigestError(input, 'not of the form algorithm:hex');
  const algorithm = m[1] as string;
  const encoded = m[2] as string;
  if (!isRegisteredDigestAlgorithm(algorithm)) return { algorithm, encoded, registered: false };
  const want = ENCODED_LENGTH[algorithm];
  if (encoded.length !== want)
    throw new InvalidDigestError(input, `${algorithm} needs ${want} hex characters, got ${encoded.length}`);
  if (!/^[a-f0-9]+$/.test(encoded))
    throw new InvalidDigestError(input, 'the hex part must be lowercase 0-9a-f');
  return { algorithm, encoded, registered: true };
}

/**
 * Parse a digest pd can compute: `parseDigestSyntax`, and a registered algorithm (sha256,
 * sha512). A well-formed digest of another algorithm throws {@link UnsupportedDigestAlgorithmError}
 * (an {@link InvalidDigestError}); anything else malformed throws {@link InvalidDigestError}.
 */
export function parseDigest(input: string): ParsedDigest {
  const { algorithm, encoded } = parseDigestSyntax(input);
  if (!isRegisteredDigestAlgorithm(algorithm)) throw new UnsupportedDigestAlgorithmError(input, algorithm);
  return { algorithm, hex: encoded };
}

/** True for a digest pd can compute (`parseDigest` succeeds); false for anything else, never throws. */
export function isDigest(input: unknown): input is Digest {
  if (typeof input !== 'string') return false;
  try {
    parseDigest(input);
    return true;
  } catch {
    return false;
  }
}

/**
 * The input typed as `Digest`, after checking it as `parseDigest` does. Throws
 * {@link InvalidDigestError} (or {@link UnsupportedDigestAlgorithmError} for an algorithm other
 * than sha256 and sha512).
 */
export function toDigest(input: string): Digest {
  parseDigest(input);
  return input as Digest;
}

/** True when two digests are the same string: no parsing or normalization (case matters). */
export function digestEquals(a: string, b: string): boolean {
  return a === b;
}

/** The hex part of a digest (for blob file names: `blobs/sha256/<hex>`). Throws like {@link parseDigest}. */
export function digestHex(d: string): string {
  return parseDigest(d).hex;
}

/**
 * The algorithm of a digest pd can compute (`sha256` or `sha512`). Throws like {@link parseDigest}:
 * {@link UnsupportedDigestAlgorithmError} for another algorithm, {@link InvalidDigestError} when malformed.
 */
export function digestAlgorithm(d: string): DigestAlgorithm {
  return parseDigest(d).algorithm;
}

/** Incremental hasher that also counts bytes. */
export class DigestHasher {
  readonly algorithm: DigestAlgorithm;
  private readonly hash: Hash;
  private count = 0;
  private result: Digest | undefined;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): this {
    this.hash.update(chunk);
    this.count += chunk.byteLength;
    return this;
  }

  get size(): number {
    return this.count;
  }

  /** Finish and return the digest. Idempotent. */
  digest(): Digest {
    if (this.result === undefined) this.result = `${this.algorithm}:${this.hash.digest('hex')}` as Digest;
    return this.result;
  }
}

/** The digest of bytes held in memory, sha256 unless told otherwise; a string is hashed as UTF-8. */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  const h = createHash(algorithm);
  h.update(data);
  return `${algorithm}:${h.digest('hex')}` as Digest;
}

/** Digest and size of a stream (any async iterable of bytes), consuming it. */
export async function digestStream(
  source: AsyncIterable<Uint8Array | string>,
  algorithm: DigestAlgorithm = 'sha256',
): Promise<{ digest: Digest; size: number }> {
  const h = new DigestHasher(algorithm);
  for await (const chunk of source) h.update(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return { digest: h.digest(), size: h.size };
}

/** Options of `createVerifier` and `verifyBytes`: the expected size, and what the bytes are for messages. */
export interface VerifyOptions {
  /** Expected size in bytes; more bytes than this fail at once, fewer fail at the end. */
  size?: number | undefined;
  /** What the bytes are, for error messages, e.g. `blob sha256:ab12… of library/ubuntu`. */
  subject?: string | undefined;
}

/**
 * A pass-through stream that hashes what flows through and fails when it does not match the
 * expected digest and size. It fails with {@link SizeMismatchError} as soon as more than `size`
 * bytes arrive, else at the end (before signalling completion) with {@link SizeMismatchError} or
 * {@link DigestMismatchError}. Consumers must treat the data as untrusted until the stream
 * finishes without error: write to a temporary file and rename on success.
 */
export function createVerifier(expected: string, options: VerifyOptions = {}): Transform {
  const check = new ContentVerifier(expected, options);
  // Taken here, not imported: a process that never verifies a stream (`pd version`) need not
  // load Node's stream modules.
  const { Transform } = process.getBuiltinModule('node:stream');
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        check.update(chunk);
      } catch (e) {
        cb(e as Error);
        return;
      }
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      try {
        check.end();
      } catch (e) {
        cb(e as Error);
        return;
      }
      cb();
    },
  });
}

/**
 * The checks of {@link createVerifier} for bytes that do not pass through a stream of their own:
 * `update` with each chunk in order (throws {@link SizeMismatchError} as soon as more than `size`
 * bytes came), `end` after the last (throws {@link SizeMismatchError} or
 * {@link DigestMismatchError}).
 */
export class ContentVerifier {
  private readonly hasher: DigestHasher;
  private readonly subject: string;
  private readonly size: number | undefined;

  constructor(
    private readonly expected: string,
    options: VerifyOptions = {},
  ) {
    this.hasher = new DigestHasher(parseDigest(expected).algorithm);
    this.subject = options.subject ?? `content ${expected}`;
    this.size = options.size;
  }

  update(chunk: Uint8Array): void {
    this.hasher.update(chunk);
    if (this.size !== undefined && this.hasher.size > this.size) {
      throw new SizeMismatchError(this.subject, this.size, this.hasher.size);
    }
  }

  end(): void {
    if (this.size !== undefined && this.hasher.size !== this.size) {
      throw new SizeMismatchError(this.subject, this.size, this.hasher.size);
    }
    const actual = this.hasher.digest();
    if (actual !== this.expected) throw new DigestMismatchError(this.subject, this.expected, actual);
  }
}

/**
 * Verify bytes held in memory (manifests, configs) against a digest and optional size. Throws
 * {@link SizeMismatchError} or {@link DigestMismatchError} on a mismatch.
 */
export function verifyBytes(data: Uint8Array, expected: string, options: VerifyOptions = {}): void {
  const subject = options.subject ?? `content ${expected}`;
  if (options.size !== undefined && data.byteLength !== options.size) {
    throw new SizeMismatchError(subject, options.size, data.byteLength);
  }
  const actual = digestOf(data, parseDigest(expected).algorithm);
  if (actual !== expected) throw new DigestMismatchError(subject, expected, actual);
}

/** sha256 of zero bytes: the digest of an empty blob. */
export const EMPTY_SHA256 =
  'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' as Digest;
