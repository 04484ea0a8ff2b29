import {
  type Digest,
  DigestHasher,
  DigestMismatchError,
  DocumentTooLargeError,
  digestOf,
  isDigest,
  MANIFEST_ACCEPT,
  MediaType,
  parseDigest,
  SizeMismatchError,
  UnsupportedMediaTypeError,
} from '@pd/oci-types';
import { apiPath, type Context, deleteScope, pullScope, pushScope } from './context.js';
import { RegistryError } from './errors.js';
import type { RegistryResponse } from './requester.js';
import { abandon, discard, header } from './transport/http.js';
import { type CallOptions, identifier, type ReferenceLike, refName } from './types.js';

/** Default cap on manifest size, 4 MiB: what distribution itself accepts. */
export const DEFAULT_MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/** A manifest or index as `getManifest` returns it: bytes checked against their digest. */
export interface Manifest {
  /** The document exactly as the registry sent it (what the digest covers). */
  bytes: Buffer;
  /** `Content-Type`, else the document's own `mediaType`, else what its shape says. */
  mediaType: string;
  /** Digest of `bytes`. */
  digest: Digest;
  /** Length of `bytes`. */
  size: number;
  /** The registry's `ETag` for this document, when it sent one (for a conditional `putManifest`). */
  etag?: string | undefined;
}

/** Options of `putManifest`. */
export interface PutManifestOptions extends CallOptions {
  /**
   * Send `If-Match` with this ETag: a registry that honours it answers 412 when the tag moved
   * since it was read. Registries that ignore conditional requests (distribution 2.8) write anyway.
   */
  ifMatch?: string | undefined;
  /** Send `If-None-Match: *`: create only, where the registry honours it. */
  ifNoneMatch?: boolean | undefined;
}

/** What `putManifestFull` learnt from the registry's answer. */
export interface PutManifestResult {
  /** Digest of the bytes sent. */
  digest: Digest;
  /** The `OCI-Subject` header: sent by registries with the referrers API for a manifest with a `subject`. */
  subject: string | undefined;
}

/** Options of `getManifest`. */
export interface GetManifestOptions extends CallOptions {
  /** Media types to accept (default: OCI index + manifest, Docker manifest list + schema 2). */
  accept?: readonly string[] | undefined;
  /** Size from a descriptor, checked against the bytes. */
  size?: number | undefined;
  /** Refuse manifests larger than this (default: the client's maxManifestSize, 4 MiB). */
  maxSize?: number | undefined;
}

/**
 * What `headManifest` tells of a manifest. When the registry's HEAD answer lacks any of it, the
 * manifest is fetched to compute it.
 */
export interface ManifestHead {
  digest: Digest;
  mediaType: string;
  size: number;
}

const LEGACY = new Set<string>([MediaType.DockerManifestV1, MediaType.DockerManifestV1Signed]);
const GENERIC = new Set(['', 'application/json', 'text/plain', 'application/octet-stream']);

function legacyError(mediaType: string): UnsupportedMediaTypeError {
  return new UnsupportedMediaTypeError(
    mediaType,
    'legacy (Docker schema 1) manifest',
    'schema 1 manifests are deprecated and unsupported; re-push the image with a current docker, crane or pd',
  );
}

/**
 * GET a manifest with content negotiation. The bytes are hashed while read and capped; pinned
 * by digest they must match it, by tag they must match `Docker-Content-Digest` when sent.
 */
export async function getManifest(
  ctx: Context,
  ref: ReferenceLike,
  opts: GetManifestOptions = {},
): Promise<Manifest> {
  const max = opts.maxSize ?? ctx.maxManifestSize;
  const what = `manifest ${refName(ref)}`;
  return ctx.requester.call(
    {
      registry: ref.registry,
      method: 'GET',
      path: apiPath(ref, `manifests/${identifier(ref)}`),
      headers: { accept: (opts.accept ?? MANIFEST_ACCEPT).join(', ') },
      scopes: pullScope(ref),
      ok: [200],
      subject: { registry: ref.registry, repository: ref.repository, what, action: 'pull' },
      signal: opts.signal,
    },
    async (res) => {
      const sent = header(res.headers, 'docker-content-digest');
      const expected = ref.digest ?? (sent && isDigest(sent) ? sent : undefined);
      const algorithm = expected ? parseDigest(expected).algorithm : 'sha256';
      const { bytes, digest } = await readCapped(res, max, what, algorithm);
      // Before the digest check: schema 1 digests cover the manifest minus its signatures, so
      // such a manifest would otherwise surface as a confusing digest mismatch.
      const mediaType = manifestMediaType(res, bytes);
      if (expected && digest !== expected) throw new DigestMismatchError(what, expected, digest);
      if (opts.size !== undefined && bytes.length !== opts.size) {
        throw new SizeMismatchError(what, opts.size, bytes.length);
      }
      return { bytes, mediaType, digest, size: bytes.length, etag: header(res.headers, 'etag') };
    },
  );
}

/** HEAD a manifest: digest, media type and size, or undefined when it does not exist. */
export async function headManifest(
  ctx: Context,
  ref: ReferenceLike,
  opts: CallOptions & { accept?: readonly string[] | undefined } = {},
): Promise<ManifestHead | undefined> {
  const res = await ctx.requester.send({
    registry: ref.registry,
    method: 'HEAD',
    path: apiPath(ref, `manifests/${identifier(ref)}`),
    headers: { accept: (opts.accept ?? MANIFEST_ACCEPT).join(', ') },
    scopes: pullScope(ref),
    ok: [200, 404],
    subject: {
      registry: ref.registry,
      repository: ref.repository,
      what: `manifest ${refName(ref)}`,
      action: 'pull',
    },
    signal: opts.signal,
  });
  await discard(res.body);
  if (res.status === 404) return undefined;
  const mediaType = contentType(res);
  if (LEGACY.has(mediaType)) throw legacyError(mediaType);
  const sent = header(res.headers, 'docker-content-digest');
  const length = Number(header(res.headers, 'content-length'));
  const digest = ref.digest ?? (sent && isDigest(sent) ? sent : undefined);
  if (digest && Number.isFinite(length) && !GENERIC.has(mediaType)) {
    return { digest: digest as Digest, mediaType, size: length };
  }
  // The registry did not say enough: fetch the manifest and compute what HEAD should have told.
  const m = await getManifest(ctx, ref, { signal: opts.signal, accept: opts.accept });
  return { digest: m.digest, mediaType: m.mediaType, size: m.size };
}

/** PUT a manifest under its tag (or its digest); returns the digest of the bytes. */
export async function putManifest(
  ctx: Context,
  ref: ReferenceLike,
  bytes: Uint8Array,
  mediaType: string,
  opts: PutManifestOptions = {},
): Promise<Digest> {
  return (await putManifestFull(ctx, ref, bytes, mediaType, opts)).digest;
}

/** `putManifest`, telling also what the answer's headers said (`OCI-Subject`). */
export async function putManifestFull(
  ctx: Context,
  ref: ReferenceLike,
  bytes: Uint8Array,
  mediaType: string,
  opts: PutManifestOptions = {},
): Promise<PutManifestResult> {
  const what = `manifest ${refName(ref)}`;
  if (bytes.length > ctx.maxManifestSize)
    throw new DocumentTooLargeError(what, bytes.length, ctx.maxManifestSize);
  const algorithm = ref.digest ? parseDigest(ref.digest).algorithm : 'sha256';
  const digest = digestOf(bytes, algorithm);
  if (ref.digest && ref.digest !== digest) throw new DigestMismatchError(what, ref.digest, digest);
  const headers: Record<string, string> = { 'content-type': mediaType };
  if (opts.ifMatch) headers['if-match'] = opts.ifMatch;
  if (opts.ifNoneMatch) headers['if-none-match'] = '*';
  const res = await ctx.requester.send({
    registry: ref.registry,
    method: 'PUT',
    path: apiPath(ref, `manifests/${ref.tag ?? digest}`),
    headers,
    body: bytes,
    scopes: pushScope(ref),
    ok: [200, 201, 202, 204],
    subject: { registry: ref.registry, repository: ref.repository, what, action: 'push' },
    signal: opts.signal,
  });
  await discard(res.body);
  const stored = header(res.headers, 'docker-content-digest');
  if (stored && stored !== digest && parseDigestSafe(stored) === algorithm) {
    throw new DigestMismatchError(`${what} as stored by the registry`, digest, stored);
  }
  return { digest, subject: header(res.headers, 'oci-subject') };
}

/** DELETE a manifest (by digest; tags only where the registry supports tag deletion). */
export async function deleteManifest(
  ctx: Context,
  ref: ReferenceLike,
  opts: CallOptions = {},
): Promise<void> {
  const what = `manifest ${refName(ref)}`;
  try {
    const res = await ctx.requester.send({
      registry: ref.registry,
      method: 'DELETE',
      path: apiPath(ref, `manifests/${identifier(ref)}`),
      scopes: deleteScope(ref),
      ok: [200, 202, 204],
      subject: { registry: ref.registry, repository: ref.repository, what, action: 'delete' },
      signal: opts.signal,
    });
    await discard(res.body);
  } catch (e) {
    // distribution treats the reference as a digest and answers 400 DIGEST_INVALID for a tag.
    if (!ref.digest && e instanceof RegistryError && (e.status === 400 || e.status === 405)) {
      throw new RegistryError(`${what}: this registry deletes manifests by digest only`, {
        registry: ref.registry,
        status: e.status,
        errors: e.errors,
        code: 'UNSUPPORTED',
        hint: 'delete repository@sha256:<digest> instead (it removes every tag pointing at it)',
        cause: e,
      });
    }
    throw e;
  }
}

function parseDigestSafe(d: string): string | undefined {
  try {
    return parseDigest(d).algorithm;
  } catch {
    return undefined;
  }
}

function contentType(res: RegistryResponse): string {
  return (header(res.headers, 'content-type') ?? '').split(';')[0]?.trim() ?? '';
}

/** The manifest's media type: Content-Type, else the document's own `mediaType`, else its shape. */
function manifestMediaType(res: RegistryResponse, bytes: Buffer): string {
  const ct = contentType(res);
  if (LEGACY.has(ct)) throw legacyError(ct);
  if (!GENERIC.has(ct)) return ct;
  let doc: { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown; config?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
  } catch {
    throw new UnsupportedMediaTypeError(
      ct || 'unknown',
      'manifest',
      'the registry returned something that is not JSON',
    );
  }
  if (doc.schemaVersion === 1) throw legacyError(ct || MediaType.DockerManifestV1);
  if (typeof doc.mediaType === 'string' && doc.mediaType) {
    if (LEGACY.has(doc.mediaType)) throw legacyError(doc.mediaType);
    return doc.mediaType;
  }
  if (Array.isArray(doc.manifests)) return MediaType.OciIndex;
  if (doc.config !== undefined) return MediaType.OciManifest;
  throw new UnsupportedMediaTypeError(
    ct || 'unknown',
    'manifest',
    'the document is neither a manifest nor an index',
  );
}

/** Read a bounded body, hashing as it arrives; refuse as soon as it passes `max`. */
async function readCapped(
  res: RegistryResponse,
  max: number,
  what: string,
  algorithm: 'sha256' | 'sha512',
): Promise<{ bytes: Buffer; digest: Digest }> {
  const tooLarge = (n: number) => new DocumentTooLargeError(what, n, max);
  const body = res.body;
  const length = Number(header(res.headers, 'content-length'));
  if (Number.isFinite(length) && length > max) {
    abandon(body);
    throw tooLarge(length);
  }
  const hasher = new DigestHasher(algorithm);
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    hasher.update(buf);
    if (hasher.size > max) {
      abandon(body);
      throw tooLarge(hasher.size);
    }
    chunks.push(buf);
  }
  return { bytes: Buffer.concat(chunks), digest: hasher.digest() };
}
