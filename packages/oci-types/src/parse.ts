import { checkImageConfig, type ImageConfig } from './config.js';
import { DocumentTooLargeError, UnsupportedMediaTypeError, ValidationError } from './errors.js';
import {
  checkDockerManifest,
  checkDockerManifestList,
  checkOciIndex,
  checkOciManifest,
  type ImageIndex,
  type ImageManifest,
} from './manifest.js';
import {
  isImageManifestMediaType,
  isIndexMediaType,
  isLegacyManifestMediaType,
  MediaType,
} from './media-types.js';
import { type Check, describeValue, isPlainObject, validateWith } from './validate.js';

/**
 * The default size limit of parsed documents: 4 MiB, as registries use for manifests. Manifests and
 * configs are held in memory, so their size is bounded.
 */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/** Options of the parse functions: the largest document accepted. */
export interface ParseOptions {
  /** Largest document accepted, in bytes. Default {@link MAX_MANIFEST_SIZE}. */
  maxSize?: number;
}

/** What `parseManifest` returns: a manifest or an index, with the media type it was read as. */
export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex };

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decode and JSON-parse a bounded document. Throws {@link DocumentTooLargeError} above the limit
 * and {@link ValidationError} (path `$`) for bytes that are not UTF-8 JSON.
 */
export function parseJson(bytes: Uint8Array | string, what: string, options: ParseOptions = {}): unknown {
  const limit = options.maxSize ?? MAX_MANIFEST_SIZE;
  let text: string;
  if (typeof bytes === 'string') {
    // Cheap bound first: every character is at least one byte.
    const length = bytes.length > limit ? bytes.length : Buffer.byteLength(bytes);
    if (length > limit) throw new DocumentTooLargeError(what, length, limit);
    text = bytes;
  } else {
    if (bytes.byteLength > limit) throw new DocumentTooLargeError(what, bytes.byteLength, limit);
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new ValidationError(what, '$', 'is not valid UTF-8');
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ValidationError(what, '$', `is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Parse and validate a document in one step: `parseJson`, then the check on the whole document.
 * Throws {@link DocumentTooLargeError}, or {@link ValidationError} for bad JSON or a failed check.
 */
export function parseDocument<T>(
  bytes: Uint8Array | string,
  check: Check<T>,
  what: string,
  options: ParseOptions = {},
): T {
  return validateWith(check, parseJson(bytes, what, options), what);
}

/**
 * Parse and validate an image config from bytes or a string. Throws {@link ValidationError} or
 * {@link DocumentTooLargeError}.
 */
export function parseImageConfig(bytes: Uint8Array | string, options: ParseOptions = {}): ImageConfig {
  return parseDocument(bytes, checkImageConfig, 'image config', options);
}

// Content types that say nothing about the document: some registries and static servers send them.
const GENERIC_CONTENT_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream']);

/** `application/vnd.oci.image.index.v1+json; charset=utf-8` → the bare lowercase type, or undefined when generic. */
function specificContentType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const bare = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return GENERIC_CONTENT_TYPES.has(bare) ? undefined : bare;
}

const SCHEMA1_HINT =
  'Docker image manifest schema 1 is a legacy format pd does not read; re-push the image with a current ' +
  'Docker or registry tool so that it is stored as schema 2 or OCI';

/**
 * Parse a manifest or index fetched from a registry or read from a layout. The kind comes from
 * the `mediaType` field, else from `contentType` (the HTTP Content-Type), else from the shape
 * (`manifests` → index, `layers` → manifest). A `mediaType` field that contradicts the content
 * type is refused: the two must describe the same bytes. Schema 1 manifests throw
 * {@link UnsupportedMediaTypeError}, documents above `maxSize` {@link DocumentTooLargeError}.
 */
export function parseManifest(
  bytes: Uint8Array | string,
  contentType?: string,
  options: ParseOptions = {},
): ParsedManifest {
  const what = 'manifest';
  const ct = specificContentType(contentType);
  // The header alone settles schema 1, whatever the body holds.
  if (ct !== undefined && isLegacyManifestMediaType(ct)) {
    throw new UnsupportedMediaTypeError(ct, what, SCHEMA1_HINT);
  }
  const doc = parseJson(bytes, what, options);
  if (!isPlainObject(doc))
    throw new ValidationError(what, '$', `expected an object, got ${describeValue(doc)}`);

  const field = doc.mediaType;
  if (field !== undefined && typeof field !== 'string') {
    throw new ValidationError(what, '$.mediaType', `expected a string, got ${describeValue(field)}`);
  }
  if (doc.schemaVersion === 1 || isLegacyManifestMediaType(field)) {
    throw new UnsupportedMediaTypeError(field ?? MediaType.DockerManifestV1, what, SCHEMA1_HINT);
  }
  if (field !== undefined && ct !== undefined && field !== ct) {
    throw new ValidationError(
      what,
      '$.mediaType',
      `is ${JSON.stringify(field)} but the content type is ${JSON.stringify(ct)}`,
      {
        hint: 'the document and the header that came with it disagree; the source is broken or not to be trusted',
      },
    );
  }

  const declared = field ?? ct;
  let kind: 'manifest' | 'index';
  if (declared !== undefined) {
    if (isIndexMediaType(declared)) kind = 'index';
    else if (isImageManifestMediaType(declared)) kind = 'manifest';
    else {
      throw new UnsupportedMediaTypeError(
        declared,
        what,
        'pd reads OCI image manifests and indexes and Docker schema 2 manifests and manifest lists',
      );
    }
  } else {
    const hasManifests = Object.hasOwn(doc, 'manifests');
    const hasLayers = Object.hasOwn(doc, 'layers') || Object.hasOwn(doc, 'config');
    if (hasManifests && hasLayers) {
      throw new ValidationError(
        what,
        '$',
        'has both "manifests" and "layers"/"config": neither an index nor a manifest',
      );
    }
    if (!hasManifests && !hasLayers) {
      throw new ValidationError(
        what,
        '$',
        'has no mediaType, "manifests" or "layers": not a manifest or an index',
      );
    }
    kind = hasManifests ? 'index' : 'manifest';
  }

  // Validate against the declared family: a Docker content type with no field must fail on the
  // missing field, not pass as OCI.
  if (kind === 'index') {
    const mediaType = declared ?? MediaType.OciIndex;
    const check: Check<ImageIndex> =
      mediaType === MediaType.DockerManifestList ? checkDockerManifestList : checkOciIndex;
    return { kind, mediaType, index: validateWith(check, doc, 'image index') };
  }
  const mediaType = declared ?? MediaType.OciManifest;
  const check: Check<ImageManifest> =
    mediaType === MediaType.DockerManifest ? checkDockerManifest : checkOciManifest;
  return { kind, mediaType, manifest: validateWith(check, doc, 'image manifest') };
}
