import { stat } from 'node:fs/promises';
import {
  type Descriptor,
  type Digest,
  parseManifest,
  parseReference,
  type ReferenceParts,
} from '@pd/oci-types';
import { NotFoundError, type RegistryClient, type RepositoryLike } from '@pd/registry';
import { type ArtifactFile, type PushedArtifact, pushArtifact, whileBlobsSettle } from './artifact.js';
import { defaultClient } from './client.js';

/** Options shared by the referrer functions. */
export interface ReferrerCallOptions {
  /** The registry client (default: the shared `defaultClient`). */
  client?: RegistryClient | undefined;
  signal?: AbortSignal | undefined;
}

/** Options of `attach`. */
export interface AttachOptions extends ReferrerCallOptions {
  /** The artifact's type, e.g. `application/spdx+json`. */
  artifactType: string;
  /** Files, one layer each (a file name becomes its title). */
  files: readonly ArtifactFile[];
  /** Manifest annotations. */
  annotations?: Readonly<Record<string, string>> | undefined;
}

function toRef(ref: string | ReferenceParts): ReferenceParts {
  return typeof ref === 'string' ? parseReference(ref) : ref;
}

/** The descriptor of the manifest `ref` names (a HEAD, or a GET where the registry says too little). */
export async function resolveDescriptor(
  ref: string | ReferenceParts,
  opts: ReferrerCallOptions = {},
): Promise<Descriptor> {
  const client = opts.client ?? defaultClient();
  const target = toRef(ref);
  const head = await client.headManifest(target, { signal: opts.signal });
  if (!head) {
    throw new NotFoundError(`manifest ${target.registry}/${target.repository} not found`, {
      registry: target.registry,
      status: 404,
      hint: 'check the reference with pd tags or pd inspect',
    });
  }
  return { mediaType: head.mediaType, digest: head.digest, size: head.size };
}

/**
 * Attach files to the manifest `subject` names, as an artifact whose `subject` is that manifest
 * (an SBOM, a signature, an attestation). It is pushed by digest into the subject's repository and
 * listed by `listReferrers` (through the registry's referrers API, or the tag-schema index).
 */
export async function attach(subject: string | ReferenceParts, opts: AttachOptions): Promise<PushedArtifact> {
  const client = opts.client ?? defaultClient();
  const target = toRef(subject);
  // A missing file fails before the registry is asked anything.
  for (const f of opts.files) if ('path' in f) await stat(f.path);
  const descriptor = await resolveDescriptor(target, { client, signal: opts.signal });
  return pushArtifact(
    { registry: target.registry, repository: target.repository },
    {
      artifactType: opts.artifactType,
      files: opts.files,
      annotations: opts.annotations,
      subject: descriptor,
      client,
      signal: opts.signal,
    },
  );
}

/** What `listReferrers` found. */
export interface ReferrerList {
  /** The subject's digest. */
  subject: Digest;
  /** Descriptors of the manifests that refer to it. */
  manifests: Descriptor[];
  /** `api`: the registry's referrers endpoint answered; `tag`: the tag-schema index was read. */
  source: 'api' | 'tag';
}

/** The manifests whose `subject` is the manifest `ref` names, optionally only of one `artifactType`. */
export async function listReferrers(
  ref: string | ReferenceParts,
  opts: ReferrerCallOptions & { artifactType?: string | undefined } = {},
): Promise<ReferrerList> {
  const client = opts.client ?? defaultClient();
  const target = toRef(ref);
  const subject = target.digest ?? (await resolveDescriptor(target, { client, signal: opts.signal })).digest;
  const got = await client.referrers(target, subject, {
    artifactType: opts.artifactType,
    signal: opts.signal,
  });
  return { subject: subject as Digest, manifests: got.manifests, source: got.source };
}

/** One referrer `copyReferrers` copied. */
export interface CopiedReferrer {
  /** Digest in the source repository. */
  source: Digest;
  /** Digest in the destination (differs only when its subject had to be rewritten). */
  digest: Digest;
  /** Digest of the subject it refers to at the destination. */
  subject: Digest;
  artifactType: string | undefined;
}

/** Options of `copyReferrers`. */
export interface CopyReferrersOptions extends ReferrerCallOptions {
  /** Also the referrers of the referrers, and so on (default true). */
  recursive?: boolean | undefined;
}

/**
 * Copy the referrers of `source` (a manifest by digest) to the repository `to`, where their
 * subject is `subject` (the copied manifest's descriptor). Manifests keep their bytes, so their
 * digests, unless the subject's digest changed in the copy: then `subject` is rewritten. Blobs are
 * mounted within a registry and streamed across registries; each referrer is made findable at
 * the destination (referrers API or tag-schema index). Recursive: signatures of SBOMs come along.
 */
export async function copyReferrers(
  source: ReferenceParts & { digest: string },
  to: RepositoryLike,
  subject: Descriptor,
  opts: CopyReferrersOptions = {},
): Promise<CopiedReferrer[]> {
  const client = opts.client ?? defaultClient();
  const from = { registry: source.registry, repository: source.repository };
  const dst = { registry: to.registry, repository: to.repository };
  const copied: CopiedReferrer[] = [];
  const seen = new Set<string>();
  const walk = async (srcDigest: string, dstSubject: Descriptor): Promise<void> => {
    const { manifests } = await client.referrers(from, srcDigest, { signal: opts.signal });
    for (const m of manifests) {
      if (seen.has(m.digest)) continue;
      seen.add(m.digest);
      const got = await client.getManifest({ ...from, digest: m.digest }, { signal: opts.signal });
      let bytes: Buffer = got.bytes;
      if (dstSubject.digest !== srcDigest) {
        const doc = JSON.parse(bytes.toString('utf8')) as { subject?: Descriptor };
        doc.subject = { mediaType: dstSubject.mediaType, digest: dstSubject.digest, size: dstSubject.size };
        bytes = Buffer.from(JSON.stringify(doc));
      }
      await copyContent(client, from, dst, got.bytes, got.mediaType, opts.signal);
      const put = await whileBlobsSettle(
        () => client.putReferrer(dst, bytes, got.mediaType, { signal: opts.signal }),
        opts.signal,
      );
      copied.push({
        source: got.digest,
        digest: put.digest,
        subject: dstSubject.digest as Digest,
        artifactType: m.artifactType,
      });
      if (opts.recursive !== false) {
        await walk(got.digest, { mediaType: got.mediaType, digest: put.digest, size: bytes.length });
      }
    }
  };
  await walk(source.digest, subject);
  return copied;
}

/**
 * Copy the manifest `from` names to `to` (a tag or its digest) exactly as it is, with everything it
 * points to: blobs, and for an index its manifests. For what pd's images refuse (artifacts, the
 * referrers tag-schema index) and wherever bytes must stay as they are. Returns its descriptor.
 */
export async function copyManifest(
  from: string | ReferenceParts,
  to: string | ReferenceParts,
  opts: ReferrerCallOptions = {},
): Promise<Descriptor> {
  const client = opts.client ?? defaultClient();
  const src = toRef(from);
  const dst = toRef(to);
  const got = await client.getManifest(src, { signal: opts.signal });
  const srcRepo = { registry: src.registry, repository: src.repository };
  const dstRepo = { registry: dst.registry, repository: dst.repository };
  await copyContent(client, srcRepo, dstRepo, got.bytes, got.mediaType, opts.signal);
  const named = dst.tag ? { ...dstRepo, tag: dst.tag } : { ...dstRepo, digest: got.digest };
  await client.putManifest(named, got.bytes, got.mediaType, { signal: opts.signal });
  return { mediaType: got.mediaType, digest: got.digest, size: got.size };
}

/** Copy what a manifest points to (blobs; for an index its manifests, pushed by digest). */
async function copyContent(
  client: RegistryClient,
  from: RepositoryLike,
  to: RepositoryLike,
  bytes: Buffer,
  mediaType: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const parsed = parseManifest(bytes, mediaType);
  if (parsed.kind === 'index') {
    for (const child of parsed.index.manifests) {
      const got = await client.getManifest({ ...from, digest: child.digest }, { signal, size: child.size });
      await copyContent(client, from, to, got.bytes, got.mediaType, signal);
      await client.putManifest({ ...to, digest: got.digest }, got.bytes, got.mediaType, { signal });
    }
    return;
  }
  const sameRegistry = from.registry === to.registry;
  for (const blob of [parsed.manifest.config, ...parsed.manifest.layers]) {
    // Non-distributable layers live elsewhere (their `urls`); registries do not hold them.
    if ('urls' in blob && Array.isArray(blob.urls) && blob.urls.length > 0) continue;
    await client.uploadBlob(to, () => client.getBlob(from, blob.digest, { size: blob.size, signal }), {
      digest: blob.digest,
      size: blob.size,
      signal,
      ...(sameRegistry ? { mountFrom: from } : {}),
    });
  }
}
