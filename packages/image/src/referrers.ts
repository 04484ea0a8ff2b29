import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  type Descriptor,
  type Digest,
  digestOf,
  parseManifest,
  parseReference,
  type ReferenceParts,
  UnsupportedMediaTypeError,
} from '@pd/oci-types';
import { NotFoundError, type RegistryClient, type RepositoryLike } from '@pd/registry';
import { type ArtifactFile, type PushedArtifact, pushArtifact } from './artifact.js';
import { defaultClient } from './client.js';
import { DirBlobStore, readVerified } from './formats/blob-store.js';
import { REF_NAME_ANNOTATION, readLayoutIndex } from './formats/oci-layout-reader.js';
import { addToLayout } from './formats/oci-layout-writer.js';
import { whileBlobsSettle } from './sinks/settle.js';

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
  const from = { registry: source.registry, repository: source.repository };
  return copyReferrersBetween(from, to, source.digest, subject, opts);
}

/** Where referrers live: a registry repository, or an OCI image layout directory (`{ layout }`). */
export type ReferrerLocation = RepositoryLike | { layout: string };

/**
 * Copy the referrers of the manifest `digest` at `from` to `to`, where their subject is `subject`,
 * recursively, as `copyReferrers` does between registries; either end may be an OCI layout. In a
 * layout, referrers are manifests listed in index.json without a ref name (as `oras copy -r`
 * writes them), found by their `subject`; pushed to a registry they are made findable there.
 */
export async function copyReferrersBetween(
  from: ReferrerLocation,
  to: ReferrerLocation,
  digest: string,
  subject: Descriptor,
  opts: CopyReferrersOptions = {},
): Promise<CopiedReferrer[]> {
  const client = opts.client ?? defaultClient();
  const src = storeOf(from, client);
  const dst = storeOf(to, client);
  const copied: CopiedReferrer[] = [];
  const seen = new Set<string>();
  const walk = async (srcDigest: string, dstSubject: Descriptor): Promise<void> => {
    for (const m of await src.referrers(srcDigest, opts.signal)) {
      if (seen.has(m.digest)) continue;
      seen.add(m.digest);
      const got = await src.manifest(m, opts.signal);
      let bytes: Buffer = got.bytes;
      if (dstSubject.digest !== srcDigest) {
        const doc = JSON.parse(bytes.toString('utf8')) as { subject?: Descriptor };
        doc.subject = { mediaType: dstSubject.mediaType, digest: dstSubject.digest, size: dstSubject.size };
        bytes = Buffer.from(JSON.stringify(doc));
      }
      // Registry to registry: mounted within one, streamed across (indexes too, child by child).
      if ('registry' in from && 'registry' in to) {
        await copyContent(client, from, to, got.bytes, got.mediaType, opts.signal);
      } else {
        await dst.putBlobs(blobsOf(got.bytes, got.mediaType), (d) => src.blob(d, opts.signal), opts.signal);
      }
      const put = await dst.putReferrer(bytes, got.mediaType, m, opts.signal);
      copied.push({
        source: got.digest,
        digest: put,
        subject: dstSubject.digest as Digest,
        artifactType: m.artifactType,
      });
      if (opts.recursive !== false) {
        await walk(got.digest, { mediaType: got.mediaType, digest: put, size: bytes.length });
      }
    }
  };
  await walk(digest, subject);
  return copied;
}

/** The blobs an image or artifact manifest names (not the non-distributable ones). */
function blobsOf(bytes: Buffer, mediaType: string): Descriptor[] {
  const parsed = parseManifest(bytes, mediaType);
  if (parsed.kind === 'index') {
    throw new UnsupportedMediaTypeError(mediaType, 'a referrer that is an index');
  }
  return [parsed.manifest.config, ...parsed.manifest.layers].filter(
    (b) => !('urls' in b && Array.isArray(b.urls) && b.urls.length > 0),
  );
}

/** One end of a referrers copy. */
interface ReferrerStore {
  referrers(digest: string, signal?: AbortSignal): Promise<Descriptor[]>;
  manifest(
    d: Descriptor,
    signal?: AbortSignal,
  ): Promise<{ bytes: Buffer; mediaType: string; digest: Digest }>;
  blob(d: Descriptor, signal?: AbortSignal): Promise<Readable>;
  /** Store the blobs it lacks, opening each from `open`. */
  putBlobs(
    blobs: Descriptor[],
    open: (d: Descriptor) => Promise<Readable>,
    signal?: AbortSignal,
  ): Promise<void>;
  /** Store a referrer manifest so its subject's referrers list it; its digest there. */
  putReferrer(bytes: Buffer, mediaType: string, listed: Descriptor, signal?: AbortSignal): Promise<Digest>;
}

function storeOf(where: ReferrerLocation, client: RegistryClient): ReferrerStore {
  return 'layout' in where ? layoutStore(where.layout) : registryStore(where, client);
}

function registryStore(repo: RepositoryLike, client: RegistryClient): ReferrerStore {
  const at = { registry: repo.registry, repository: repo.repository };
  return {
    referrers: async (digest, signal) => (await client.referrers(at, digest, { signal })).manifests,
    manifest: (d, signal) => client.getManifest({ ...at, digest: d.digest }, { signal }),
    blob: (d, signal) => client.getBlob(at, d.digest, { size: d.size, signal }),
    async putBlobs(blobs, open, signal) {
      for (const b of blobs) {
        await client.uploadBlob(at, () => open(b), { digest: b.digest, size: b.size, signal });
      }
    },
    async putReferrer(bytes, mediaType, _listed, signal) {
      const put = await whileBlobsSettle(() => client.putReferrer(at, bytes, mediaType, { signal }), signal);
      return put.digest;
    },
  };
}

function layoutStore(dir: string): ReferrerStore {
  const store = new DirBlobStore(dir);
  // Each untagged manifest's subject, read once per walk: a manifest's bytes never change.
  const subjects = new Map<string, string | undefined>();
  return {
    async referrers(digest) {
      const index = await readLayoutIndex(store);
      const found: Descriptor[] = [];
      for (const d of index.manifests) {
        if (d.annotations?.[REF_NAME_ANNOTATION] !== undefined) continue;
        if (!subjects.has(d.digest)) {
          const doc = JSON.parse((await readVerified(store, d, 'manifest')).toString('utf8')) as {
            subject?: { digest?: string };
          };
          subjects.set(d.digest, doc.subject?.digest);
        }
        if (subjects.get(d.digest) === digest) found.push(d);
      }
      return found;
    },
    async manifest(d) {
      const bytes = await readVerified(store, d, 'manifest');
      return { bytes, mediaType: d.mediaType, digest: d.digest };
    },
    blob: (d, signal) => store.openBlob(d.digest, { signal }),
    putBlobs: (blobs, open, signal) =>
      addToLayout(
        dir,
        blobs.map((d) => ({ descriptor: d, open: () => open(d) })),
        [],
        signal ? { signal } : {},
      ),
    async putReferrer(bytes, mediaType, listed) {
      const digest = digestOf(bytes);
      const doc = JSON.parse(bytes.toString('utf8')) as {
        artifactType?: string;
        annotations?: Record<string, string>;
      };
      // Listed as the referrers API lists it: type and annotations beside the digest.
      const entry: Descriptor = {
        mediaType,
        digest,
        size: bytes.length,
        ...((doc.artifactType ?? listed.artifactType)
          ? { artifactType: doc.artifactType ?? listed.artifactType }
          : {}),
        ...(doc.annotations ? { annotations: doc.annotations } : {}),
      };
      await addToLayout(dir, [{ descriptor: entry, open: async () => Readable.from([bytes]) }], [entry]);
      return digest;
    },
  };
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
      // Within a registry a mount; across two, the upload reads the source itself.
      ...(sameRegistry ? { mountFrom: from } : { from }),
    });
  }
}
