import {
  type Descriptor,
  type Digest,
  type DockerArchiveEntry,
  digestOf,
  type ImageConfig,
  type ImageManifest,
  isImageManifestMediaType,
  isIndexMediaType,
  MAX_MANIFEST_SIZE,
  MediaType,
  manifestMediaType,
  parseImageConfig,
  parseJson,
  parseManifest,
  tryParseReference,
  validateDockerArchiveManifest,
  verifyBytes,
} from '@pd/oci-types';
import type { Image, Layer } from '../model.js';
import { DockerArchiveLayer } from './archive-layer.js';
import { readVerified, TarBlobStore } from './blob-store.js';
import {
  AmbiguousImageError,
  ArchiveFormatError,
  ImageNotFoundError,
  MissingMemberError,
  UnsafeMemberError,
} from './errors.js';
import { lazy } from './lazy.js';
import { readLayoutIndex } from './oci-layout-reader.js';
import { TarIndex } from './tar-index.js';

/** Options of `readDockerArchive`: which image of the archive to read. */
export interface ReadDockerArchiveOptions {
  /** Pick the image by one of its RepoTags (`busybox`, `busybox:latest`, `docker.io/library/busybox:latest`). */
  tag?: string;
  /** Pick the image by its position in manifest.json (0-based). */
  index?: number;
  /** Aborts the scan of the archive's tar headers. */
  signal?: AbortSignal;
}

/** One image of a docker archive with its RepoTags, as `readDockerArchiveAll` lists them. */
export interface DockerArchiveEntryImage {
  /** The image (lazy: nothing of it is read yet). */
  image: DockerArchiveImage;
  /** RepoTags of the entry as written (familiar form, e.g. `busybox:latest`). */
  tags: string[];
}

/** `blobs/sha256/<hex>` names its content; so do docker's and skopeo's `<hex>.json` configs. */
const DIGEST_NAMED = /^(?:blobs\/(sha256|sha512)\/([a-f0-9]+)|([a-f0-9]{64})\.json)$/;

function digestFromName(name: string): Digest | undefined {
  const m = DIGEST_NAMED.exec(name);
  if (!m) return undefined;
  return (m[3] ? `sha256:${m[3]}` : `${m[1]}:${m[2]}`) as Digest;
}

/**
 * Read one image of a `docker save` archive (classic `<id>/layer.tar` layout, or the Docker ≥ 25 one
 * with members in `blobs/sha256/`). Lazy: only the tar headers and manifest.json are read here.
 */
export async function readDockerArchive(
  path: string,
  options: ReadDockerArchiveOptions = {},
): Promise<DockerArchiveImage> {
  const all = await readDockerArchiveAll(path, options);
  const labels = all.map(labelOf);
  if (options.tag !== undefined) {
    const wanted = normalizeTag(options.tag);
    const found = all.find((e) => e.tags.some((t) => t === options.tag || normalizeTag(t) === wanted));
    if (!found) throw new ImageNotFoundError(path, options.tag, labels, howToName(path));
    return found.image;
  }
  if (options.index !== undefined) {
    const found = Number.isInteger(options.index) ? all[options.index] : undefined;
    if (!found) throw new ImageNotFoundError(path, `@${options.index}`, labels, howToName(path));
    return found.image;
  }
  if (all.length === 1) return all[0]!.image;
  throw new AmbiguousImageError(path, all.length, labels, howToName(path));
}

/** The selector syntax, shown when the caller must name an image (option names for library callers). */
function howToName(path: string): string {
  return `name one as docker-archive:${path}:TAG or docker-archive:${path}:@N`;
}

/** Every image of a docker archive, with its RepoTags, in manifest.json order. */
export async function readDockerArchiveAll(
  path: string,
  options: { signal?: AbortSignal } = {},
): Promise<DockerArchiveEntryImage[]> {
  const archive = await TarIndex.open(path, options);
  const entries = await readArchiveManifest(archive);
  if (entries.length === 0) throw new ArchiveFormatError(path, 'manifest.json lists no images');
  return entries.map((entry, i) => ({
    image: new DockerArchiveImage(archive, entry, i),
    tags: entry.RepoTags ?? [],
  }));
}

function labelOf(e: DockerArchiveEntryImage, i: number): string {
  return e.tags.length ? `@${i} ${e.tags.join(' ')}` : `@${i} (untagged)`;
}

function normalizeTag(tag: string): string {
  return tryParseReference(tag)?.toString() ?? tag;
}

async function readArchiveManifest(archive: TarIndex): Promise<DockerArchiveEntry[]> {
  const path = archive.path;
  if (!archive.has('manifest.json')) {
    if (archive.has('oci-layout')) {
      throw new ArchiveFormatError(
        path,
        'an OCI image archive, not a docker archive (no manifest.json)',
        `read it as oci-archive:${path}`,
      );
    }
    if (archive.has('repositories')) {
      throw new ArchiveFormatError(
        path,
        'a legacy docker archive without manifest.json (Docker before 1.10)',
        'save the image again with a current docker',
      );
    }
    throw new ArchiveFormatError(path, 'not a docker archive (no manifest.json)');
  }
  const raw = parseJson(
    await archive.read('manifest.json', MAX_MANIFEST_SIZE),
    'docker archive manifest.json',
  );
  // Checked before validation so that a hostile path gets its own error, not a schema complaint.
  if (Array.isArray(raw)) {
    for (const item of raw as unknown[]) {
      if (typeof item !== 'object' || item === null) continue;
      const { Config, Layers } = item as { Config?: unknown; Layers?: unknown };
      for (const p of [Config, ...(Array.isArray(Layers) ? Layers : [])]) {
        if (typeof p === 'string' && escapes(p)) {
          throw new UnsafeMemberError(path, p, 'is named by manifest.json but lies outside the archive');
        }
      }
    }
  }
  const entries = validateDockerArchiveManifest(raw);
  for (const e of entries) {
    for (const p of [e.Config, ...e.Layers]) {
      // resolve() throws for links that leave the archive; has() would hide that as "missing".
      if (!archive.resolve(p)) {
        throw new MissingMemberError(path, p, 'manifest.json names it, the archive lacks it');
      }
    }
  }
  return entries;
}

function escapes(p: string): boolean {
  return p.startsWith('/') || p.includes('\\') || p.split('/').includes('..');
}

/** One image of a docker archive. */
export class DockerArchiveImage implements Image {
  readonly kind = 'image' as const;
  /** RepoTags of the entry (familiar form). */
  readonly repoTags: readonly string[];

  constructor(
    private readonly archive: TarIndex,
    private readonly entry: DockerArchiveEntry,
    private readonly position: number,
  ) {
    this.repoTags = entry.RepoTags ?? [];
  }

  private get label(): string {
    return this.repoTags[0] ?? `@${this.position}`;
  }

  readonly rawConfig = lazy(async (): Promise<Uint8Array> => {
    const data = await this.archive.read(this.entry.Config, MAX_MANIFEST_SIZE);
    const named = digestFromName(this.entry.Config);
    if (named) verifyBytes(data, named, { subject: `config ${this.entry.Config} of ${this.archive.path}` });
    return data;
  });

  readonly config = lazy(async (): Promise<ImageConfig> => parseImageConfig(await this.rawConfig()));

  readonly configDigest = lazy(async (): Promise<Digest> => digestOf(await this.rawConfig()));

  /** The OCI manifest stored beside manifest.json (Docker ≥ 25, pd's combined layout) when it matches. */
  private readonly stored = lazy(async () =>
    findStoredManifest(this.archive, await this.configDigest(), this.entry),
  );

  /** The layers as this class made them (their compression is read for the manifest's family). */
  private readonly archiveLayers = lazy(async (): Promise<DockerArchiveLayer[]> => {
    const diffIds = (await this.config()).rootfs.diff_ids;
    if (diffIds.length !== this.entry.Layers.length) {
      throw new ArchiveFormatError(
        this.archive.path,
        `image ${this.label}: manifest.json lists ${this.entry.Layers.length} layers, its config ${diffIds.length} diff_ids`,
      );
    }
    const stored = await this.stored();
    return this.entry.Layers.map(
      (name, i) =>
        new DockerArchiveLayer(this.archive, this.archive.require(name), diffIds[i]!, {
          digest: digestFromName(name),
          mediaType: stored?.manifest.layers[i]?.mediaType,
          family: this.family,
        }),
    );
  });

  readonly layers = lazy(async (): Promise<Layer[]> => this.archiveLayers());

  /**
   * The family of the manifest made up for an archive without one (docker save before Docker 25):
   * Docker schema 2, as docker push and skopeo write for such an image, so that the config (with
   * Docker's nulls) and so the image ID stay as docker made them. A zstd layer, which schema 2
   * cannot name, makes it OCI.
   */
  private readonly family = lazy(async (): Promise<'oci' | 'docker'> => {
    // Each layer's compression is read once (its magic bytes), for its media type too.
    for (const layer of await this.archiveLayers()) if ((await layer.compression()) === 'zstd') return 'oci';
    return 'docker';
  });

  /**
   * The stored manifest when the archive has one for this image (Docker ≥ 25), else one made up
   * from the config and layers: Docker schema 2 (OCI if a layer is zstd), layer types from their
   * magic bytes.
   */
  readonly rawManifest = lazy(async (): Promise<Uint8Array> => {
    const stored = await this.stored();
    if (stored) return stored.raw;
    const raw = await this.rawConfig();
    const layers: Descriptor[] = [];
    for (const l of await this.layers()) {
      layers.push({ mediaType: await l.mediaType(), digest: await l.digest(), size: await l.size() });
    }
    const docker = (await this.family()) === 'docker';
    const manifest = {
      schemaVersion: 2,
      mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
      config: {
        mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig,
        digest: digestOf(raw),
        size: raw.byteLength,
      },
      layers,
    };
    return Buffer.from(JSON.stringify(manifest));
  });

  readonly manifest = lazy(async (): Promise<ImageManifest> => {
    const parsed = parseManifest(await this.rawManifest());
    if (parsed.kind !== 'manifest')
      throw new ArchiveFormatError(this.archive.path, 'stored manifest is an index');
    return parsed.manifest;
  });

  async mediaType(): Promise<string> {
    return manifestMediaType(await this.manifest());
  }

  async digest(): Promise<Digest> {
    return digestOf(await this.rawManifest());
  }

  async size(): Promise<number> {
    return (await this.rawManifest()).byteLength;
  }
}

interface StoredManifest {
  raw: Buffer;
  manifest: ImageManifest;
}

/**
 * A manifest in the archive's own index.json whose config and layers are exactly this entry's.
 * Docker 25.0 wrote manifests listing only foreign layers, so a manifest is used only on a full match.
 */
async function findStoredManifest(
  archive: TarIndex,
  configDigest: Digest,
  entry: DockerArchiveEntry,
): Promise<StoredManifest | undefined> {
  if (!archive.has('oci-layout') || !archive.has('index.json')) return undefined;
  if (!entry.Layers.every((l) => l.startsWith('blobs/'))) return undefined;
  const layerDigests = entry.Layers.map(digestFromName);
  const store = new TarBlobStore(archive);
  let top: Descriptor[];
  try {
    top = (await readLayoutIndex(store)).manifests;
  } catch {
    return undefined; // a broken index.json does not make the docker archive unreadable
  }
  const queue = [...top];
  for (let visited = 0; queue.length > 0 && visited < 64; visited++) {
    const d = queue.shift()!;
    if (!(await store.blobSize(d.digest))) continue;
    const raw = await readVerified(store, d, 'manifest');
    if (isIndexMediaType(d.mediaType)) {
      const parsed = parseManifest(raw, d.mediaType);
      if (parsed.kind === 'index') queue.push(...parsed.index.manifests);
      continue;
    }
    if (!isImageManifestMediaType(d.mediaType)) continue;
    const parsed = parseManifest(raw, d.mediaType);
    if (parsed.kind !== 'manifest') continue;
    const m = parsed.manifest;
    if (
      m.config.digest === configDigest &&
      m.layers.length === layerDigests.length &&
      m.layers.every((l, i) => l.digest === layerDigests[i])
    ) {
      return { raw, manifest: m };
    }
  }
  return undefined;
}
