import { mkdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import {
  type Descriptor,
  type Digest,
  DigestHasher,
  digestOf,
  MediaType,
  type OciImageManifest,
  PdError,
  parseManifest,
  parseReference,
  type ReferenceParts,
} from '@pd/oci-types';
import type { RegistryClient } from '@pd/registry';
import { readFileStream } from '@pd/tar/file-io';
import { defaultClient } from './client.js';
import { whileBlobsSettle } from './sinks/settle.js';

/** The annotation naming a layer's file, as ORAS and `pd artifact pull` read it. */
export const TITLE_ANNOTATION = 'org.opencontainers.image.title';

/** Media type of an artifact file given none: what ORAS uses for plain files. */
export const DEFAULT_ARTIFACT_FILE_TYPE = 'application/vnd.oci.image.layer.v1.tar';

/**
 * The empty config descriptor of OCI 1.1 artifacts: the 2-byte blob `{}`, its data inline. The
 * digest is the image-spec's own (manifest.md, "Guidance for an Empty Descriptor"), written out
 * rather than hashed at import, which would load node:crypto into every start-up.
 */
export const EMPTY_CONFIG: Readonly<Descriptor> = Object.freeze({
  mediaType: MediaType.OciEmpty,
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  data: 'e30=',
});

/**
 * A file that becomes one layer of an artifact: on disk (`path`, streamed, never held in memory)
 * or, for small documents a program made (an SBOM), its bytes (`data`, with a `title`).
 */
export type ArtifactFile =
  | {
      /** Path of the file to read. */
      path: string;
      /** Layer media type (default {@link DEFAULT_ARTIFACT_FILE_TYPE}). */
      mediaType?: string | undefined;
      /** Name recorded in `org.opencontainers.image.title` (default: the file's base name). */
      title?: string | undefined;
    }
  | {
      /** The file's bytes. */
      data: Uint8Array;
      /** Name recorded in `org.opencontainers.image.title`. */
      title: string;
      /** Layer media type (default {@link DEFAULT_ARTIFACT_FILE_TYPE}). */
      mediaType?: string | undefined;
    };

/** Options of `pushArtifact`. */
export interface PushArtifactOptions {
  /** The artifact's type (`artifactType` of the manifest), e.g. `application/vnd.example+type`. */
  artifactType: string;
  /** Files, one layer each, in this order. */
  files: readonly ArtifactFile[];
  /** Manifest annotations. */
  annotations?: Readonly<Record<string, string>> | undefined;
  /** The manifest this artifact refers to: it is then pushed as a referrer of that manifest. */
  subject?: Descriptor | undefined;
  /** The registry client (default: the shared `defaultClient`). */
  client?: RegistryClient | undefined;
  signal?: AbortSignal | undefined;
}

/** What `pushArtifact` pushed. */
export interface PushedArtifact {
  /** Descriptor of the artifact manifest (with its `artifactType`). */
  descriptor: Descriptor;
  /** The manifest exactly as pushed. */
  manifest: OciImageManifest;
  /** Layers whose bytes were sent; the others were in the repository already. */
  uploaded: number;
  /** With a subject: whether the registry's referrers API or the tag-schema index lists it. */
  referrers?: 'api' | 'tag' | undefined;
}

/** An artifact file's title would write outside the target directory, or is no file name at all. */
export class UnsafeArtifactTitleError extends PdError {
  /** The title as the manifest gives it. */
  readonly title: string;
  constructor(title: string, reason: string) {
    super(`refusing artifact file "${title.slice(0, 200)}": ${reason}`, {
      code: 'UNSAFE_PATH',
      hint: 'the artifact names a path, not a file name; pull it with a tool you trust to place it',
    });
    this.title = title;
  }
}

/** An artifact to pull has something `pullArtifact` cannot write as files. */
export class ArtifactFormatError extends PdError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'ARTIFACT_FORMAT', ...(hint ? { hint } : {}) });
  }
}

function toRef(ref: string | ReferenceParts): ReferenceParts {
  return typeof ref === 'string' ? parseReference(ref) : ref;
}

/** Digest and size of a file in one streamed pass. */
async function hashFile(path: string, signal?: AbortSignal): Promise<{ digest: Digest; size: number }> {
  const hasher = new DigestHasher('sha256');
  for await (const chunk of readFileStream(path, { signal })) {
    hasher.update(chunk as Buffer);
  }
  return { digest: hasher.digest(), size: hasher.size };
}

/**
 * The artifact manifest (OCI 1.1 image manifest with `artifactType` and the empty config) for
 * files already described by their layer descriptors.
 */
export function artifactManifest(
  artifactType: string,
  layers: readonly Descriptor[],
  options: {
    annotations?: Readonly<Record<string, string>> | undefined;
    subject?: Descriptor | undefined;
  } = {},
): OciImageManifest {
  const { subject, annotations } = options;
  return {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType,
    config: { ...EMPTY_CONFIG },
    layers: [...layers],
    ...(subject
      ? { subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } }
      : {}),
    ...(annotations && Object.keys(annotations).length ? { annotations: { ...annotations } } : {}),
  } as OciImageManifest;
}

/**
 * Push files as an ORAS-compatible OCI artifact to `ref` (a tag, or with `subject` and no tag,
 * by digest only). Each file is hashed in one streamed pass, then uploaded from disk only when
 * the repository lacks it. With `subject` the manifest is made findable as a referrer.
 */
export async function pushArtifact(
  ref: string | ReferenceParts,
  opts: PushArtifactOptions,
): Promise<PushedArtifact> {
  const client = opts.client ?? defaultClient();
  const target = toRef(ref);
  const repo = { registry: target.registry, repository: target.repository };
  const titles = new Set<string>();
  const layers: Descriptor[] = [];
  let uploaded = 0;
  for (const file of opts.files) {
    const title = file.title ?? ('path' in file ? basename(file.path) : '');
    checkTitle(title);
    if (titles.has(title))
      throw new UnsafeArtifactTitleError(title, 'two files of the artifact have this name');
    titles.add(title);
    let digest: Digest;
    let size: number;
    let open: () => Readable;
    if ('path' in file) {
      const info = await stat(file.path);
      if (!info.isFile()) throw new ArtifactFormatError(`${file.path} is not a regular file`);
      ({ digest, size } = await hashFile(file.path, opts.signal));
      open = () => readFileStream(file.path, { signal: opts.signal });
    } else {
      const bytes = Buffer.from(file.data.buffer, file.data.byteOffset, file.data.byteLength);
      digest = digestOf(bytes);
      size = bytes.length;
      open = () => Readable.from([bytes]);
    }
    const up = await client.uploadBlob(repo, open, { digest, size, signal: opts.signal });
    if (up.how === 'uploaded') uploaded++;
    layers.push({
      mediaType: file.mediaType ?? DEFAULT_ARTIFACT_FILE_TYPE,
      digest,
      size,
      annotations: { [TITLE_ANNOTATION]: title },
    });
  }
  // Registries check that the config blob exists, even one whose bytes the descriptor carries.
  await client.uploadBlob(repo, () => Readable.from([Buffer.from('{}')]), {
    digest: EMPTY_CONFIG.digest,
    size: 2,
    signal: opts.signal,
  });
  const manifest = artifactManifest(opts.artifactType, layers, {
    annotations: opts.annotations,
    subject: opts.subject,
  });
  const bytes = Buffer.from(JSON.stringify(manifest));
  const descriptor: Descriptor = {
    mediaType: MediaType.OciManifest,
    digest: digestOf(bytes),
    size: bytes.length,
    artifactType: opts.artifactType,
  };
  let referrers: 'api' | 'tag' | undefined;
  if (opts.subject) {
    const put = await whileBlobsSettle(
      () => client.putReferrer(repo, bytes, MediaType.OciManifest, { signal: opts.signal }),
      opts.signal,
    );
    referrers = put.via;
  }
  // A tag (also for a referrer, when asked) names the pushed manifest.
  if (target.tag || !opts.subject) {
    const named = target.tag ? { ...repo, tag: target.tag } : { ...repo, digest: descriptor.digest };
    await whileBlobsSettle(
      () => client.putManifest(named, bytes, MediaType.OciManifest, { signal: opts.signal }),
      opts.signal,
    );
  }
  return { descriptor, manifest, uploaded, ...(referrers ? { referrers } : {}) };
}

/** Refuse a title that is not a plain file name: no separators, `..`, absolute paths or NULs. */
export function checkTitle(title: string): void {
  if (title === '' || title === '.' || title === '..')
    throw new UnsafeArtifactTitleError(title, 'not a file name');
  if (title.includes('/') || title.includes('\\'))
    throw new UnsafeArtifactTitleError(title, 'it contains a path separator');
  if (title.includes('\0')) throw new UnsafeArtifactTitleError(title, 'it contains a NUL byte');
}

/** Options of `pullArtifact`. */
export interface PullArtifactOptions {
  /** The registry client (default: the shared `defaultClient`). */
  client?: RegistryClient | undefined;
  signal?: AbortSignal | undefined;
}

/** One file `pullArtifact` wrote. */
export interface PulledFile {
  /** The layer's title annotation, which is the file's name in the directory. */
  title: string;
  path: string;
  digest: Digest;
  size: number;
  mediaType: string;
}

/** What `pullArtifact` pulled. */
export interface PulledArtifact {
  /** Digest of the artifact manifest. */
  digest: Digest;
  /** `artifactType`, else the config's media type. */
  artifactType: string;
  files: PulledFile[];
}

/**
 * Write each titled layer of the artifact at `ref` to `dir/<title>`, verified against its digest
 * (a temporary file renamed into place only when it checks out). Every title is checked before
 * anything is written: one that is not a plain file name refuses the whole artifact. Layers
 * without a title are skipped, as ORAS does.
 */
export async function pullArtifact(
  ref: string | ReferenceParts,
  dir: string,
  opts: PullArtifactOptions = {},
): Promise<PulledArtifact> {
  const client = opts.client ?? defaultClient();
  const target = toRef(ref);
  const got = await client.getManifest(target, {
    signal: opts.signal,
    accept: [MediaType.OciManifest, MediaType.DockerManifest],
  });
  const parsed = parseManifest(got.bytes, got.mediaType);
  if (parsed.kind !== 'manifest') {
    throw new ArtifactFormatError(
      `${formatRef(target)} is an index, not an artifact manifest`,
      'pull one of its manifests by digest (pd inspect lists them)',
    );
  }
  const manifest = parsed.manifest as OciImageManifest;
  const files = manifest.layers
    .map((layer) => ({ layer, title: layer.annotations?.[TITLE_ANNOTATION] }))
    .filter((f): f is { layer: Descriptor; title: string } => f.title !== undefined);
  const seen = new Set<string>();
  for (const { title } of files) {
    checkTitle(title);
    if (seen.has(title))
      throw new UnsafeArtifactTitleError(title, 'two layers of the artifact have this name');
    seen.add(title);
  }
  await mkdir(dir, { recursive: true });
  const repo = { registry: target.registry, repository: target.repository };
  const out: PulledFile[] = [];
  for (const { layer, title } of files) {
    const path = join(dir, title);
    await client.downloadBlob(repo, layer.digest, path, { size: layer.size, signal: opts.signal });
    out.push({ title, path, digest: layer.digest, size: layer.size, mediaType: layer.mediaType });
  }
  return {
    digest: got.digest,
    artifactType: manifest.artifactType ?? manifest.config.mediaType,
    files: out,
  };
}

function formatRef(ref: ReferenceParts): string {
  return `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`}`;
}
