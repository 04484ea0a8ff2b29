import { type Digest, type DigestAlgorithm, digestOf, parseDigestSyntax } from './digest.js';
import { checkPlatform, type Platform } from './platform.js';
import {
  arrayOf,
  base64,
  type Check,
  childPath,
  digest,
  mediaType,
  objectWhere,
  optional,
  required,
  size,
  stringMap,
  url,
  validateWith,
} from './validate.js';

/** A pointer to content: what it is, its digest and its size (OCI image-spec descriptor). */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  /** Where else the content may be fetched from (foreign / non-distributable layers). */
  urls?: string[];
  annotations?: Record<string, string>;
  /** In an index: the platform the manifest is for. */
  platform?: Platform;
  /** The type of an artifact this descriptor points to (OCI 1.1). */
  artifactType?: string;
  /** The content itself, base64, for small blobs (OCI 1.1); checked against size, and digest when sha256/sha512. */
  data?: string;
}

const descriptorShape = {
  mediaType: required(mediaType),
  digest: required(digest),
  size: required(size),
  urls: optional(arrayOf(url)),
  annotations: optional(stringMap),
  platform: optional(checkPlatform),
  artifactType: optional(mediaType),
  data: optional(base64),
};

/**
 * The check behind `validateDescriptor`, for composing into other checks. Embedded `data` must hold
 * `size` bytes and, for a sha256 or sha512 digest, hash to it.
 */
export const checkDescriptor: Check<Descriptor> = objectWhere(descriptorShape, (d, path) => {
  if (d.data === undefined) return undefined;
  // Embedded data is content like any other: it must be what the digest and size say.
  const bytes = Buffer.from(d.data, 'base64');
  const at = childPath(path, 'data');
  if (bytes.byteLength !== d.size) {
    return { path: at, problem: `holds ${bytes.byteLength} bytes but size says ${d.size}` };
  }
  const { algorithm, registered } = parseDigestSyntax(d.digest);
  // Data under an algorithm pd cannot compute stays unverified here, like any such blob;
  // verifyBytes on it throws UnsupportedDigestAlgorithmError.
  if (!registered) return undefined;
  const actual = digestOf(bytes, algorithm as DigestAlgorithm);
  if (actual !== d.digest) return { path: at, problem: `does not match the digest (it hashes to ${actual})` };
  return undefined;
});

/** Validate a descriptor; returns it typed or throws `ValidationError`. */
export function validateDescriptor(value: unknown): Descriptor {
  return validateWith(checkDescriptor, value, 'descriptor');
}

/** The descriptor of bytes held in memory (a manifest or config about to be written). */
export function descriptorOf(
  bytes: Uint8Array | string,
  mediaTypeValue: string,
  options: { algorithm?: DigestAlgorithm; annotations?: Record<string, string>; platform?: Platform } = {},
): Descriptor {
  const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const d: Descriptor = {
    mediaType: mediaTypeValue,
    digest: digestOf(data, options.algorithm),
    size: data.byteLength,
  };
  if (options.platform) d.platform = options.platform;
  if (options.annotations) d.annotations = options.annotations;
  return d;
}
