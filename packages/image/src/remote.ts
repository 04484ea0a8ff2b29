import { readFile } from 'node:fs/promises';
import {
  type Descriptor,
  type Digest,
  DocumentTooLargeError,
  type ImageConfig,
  type ImageIndex as ImageIndexDocument,
  type ImageManifest,
  isConfigMediaType,
  MAX_MANIFEST_SIZE,
  type Platform,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  parseReference,
  type Reference,
  UnsupportedMediaTypeError,
  verifyBytes,
} from '@pd/oci-types';
import type { RegistryClient } from '@pd/registry';
import { BlobCache } from './cache.js';
import { defaultClient } from './client.js';
import { InconsistentImageError } from './errors.js';
import { RemoteLayer } from './layers/remote.js';
import type { BlobLocation, Image, ImageIndex, IndexChild, Layer, StreamOptions } from './model.js';
import { platformEntry } from './platform.js';

/** Options of the registry sources (`remote.get`, `remote.image`, `remote.index`). */
export interface RemoteOptions {
  /** The registry client (default: the shared `defaultClient`). */
  client?: RegistryClient;
  /** Blob cache for layers and configs (default: the shared one); false to keep nothing. */
  cache?: BlobCache | false;
  /** Aborts the manifest and config fetches. */
  signal?: AbortSignal;
}

/** Options of `remote.image`: those of every registry source, and the platform to pick. */
export interface RemoteImageOptions extends RemoteOptions {
  /** Platform to pick from an index (default: the running machine's). */
  platform?: Platform | string;
}

interface Fetched {
  bytes: Uint8Array;
  mediaType: string;
  digest: Digest;
}

function toRef(ref: Reference | string): Reference {
  return typeof ref === 'string' ? parseReference(ref) : ref;
}

function resolveCache(opt: BlobCache | false | undefined): BlobCache | false {
  return opt === undefined ? BlobCache.default() : opt;
}

/** Read a config blob: from the cache when there, else from the registry (then cached). Bounded. */
async function fetchConfig(
  client: RegistryClient,
  location: BlobLocation,
  d: Descriptor,
  cache: BlobCache | false,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  if (d.size > MAX_MANIFEST_SIZE)
    throw new DocumentTooLargeError(`config ${d.digest}`, d.size, MAX_MANIFEST_SIZE);
  const subject = { size: d.size, subject: `config ${d.digest}` };
  if (d.data !== undefined) {
    const bytes = Buffer.from(d.data, 'base64');
    verifyBytes(bytes, d.digest, subject);
    return bytes;
  }
  if (cache) {
    const path = await cache.ingest(
      d.digest,
      () => client.getBlob(location, d.digest, { size: d.size, signal }),
      {
        size: d.size,
        ...(signal ? { signal } : {}),
      },
    );
    const bytes = await readFile(path);
    verifyBytes(bytes, d.digest, subject);
    return bytes;
  }
  const chunks: Buffer[] = [];
  for await (const c of await client.getBlob(location, d.digest, { size: d.size, signal }))
    chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * An image in a registry, read lazily. It holds the raw manifest bytes (its digest is that of what
 * the registry served, never of a re-serialization); the config is fetched the first time it (or a
 * layer's diffID) is asked for, so a copy within a registry mounts it like any blob without ever
 * reading it. Layers are `RemoteLayer`s that download nothing until a stream is opened.
 */
export class RemoteImage implements Image {
  readonly kind = 'image' as const;
  readonly location: BlobLocation;
  readonly ref: Reference;
  private readonly fetched: Fetched;
  private readonly parsed: ImageManifest;
  private readonly fetchConfig: () => Promise<Uint8Array>;
  private configLoad: Promise<{ raw: Uint8Array; config: ImageConfig }> | undefined;
  private readonly layerObjects: RemoteLayer[];

  constructor(init: {
    ref: Reference;
    client: RegistryClient;
    cache: BlobCache | false;
    manifest: Fetched;
    parsed: ImageManifest;
    /** The config's bytes, or how to fetch them (once, when first needed). */
    rawConfig: Uint8Array | (() => Promise<Uint8Array>);
  }) {
    this.ref = init.ref;
    this.location = { registry: init.ref.registry, repository: init.ref.repository };
    this.fetched = init.manifest;
    this.parsed = init.parsed;
    const raw = init.rawConfig;
    this.fetchConfig = typeof raw === 'function' ? raw : async () => raw;
    this.layerObjects = init.parsed.layers.map(
      (descriptor, i) =>
        new RemoteLayer({
          client: init.client,
          location: this.location,
          descriptor,
          diffId: async () => (await this.loadConfig()).config.rootfs.diff_ids[i]!,
          cache: init.cache,
        }),
    );
  }

  /** The config, fetched and checked against the manifest once; a failed fetch is tried again next time. */
  private loadConfig(): Promise<{ raw: Uint8Array; config: ImageConfig }> {
    if (this.configLoad) return this.configLoad;
    const load = this.fetchConfig().then((raw) => {
      const config = parseImageConfig(raw);
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== this.parsed.layers.length) {
        throw new InconsistentImageError(
          `${this.ref} has ${this.parsed.layers.length} layer(s) but its config lists ${diffIds.length} diff_ids`,
        );
      }
      return { raw, config };
    });
    load.catch(() => {
      if (this.configLoad === load) this.configLoad = undefined;
    });
    this.configLoad = load;
    return load;
  }

  async mediaType(): Promise<string> {
    return this.fetched.mediaType;
  }
  async rawManifest(): Promise<Uint8Array> {
    return this.fetched.bytes;
  }
  async manifest(): Promise<ImageManifest> {
    return structuredClone(this.parsed);
  }
  async digest(): Promise<Digest> {
    return this.fetched.digest;
  }
  async size(): Promise<number> {
    return this.fetched.bytes.byteLength;
  }
  async rawConfig(): Promise<Uint8Array> {
    return (await this.loadConfig()).raw;
  }
  async config(): Promise<ImageConfig> {
    return parseImageConfig((await this.loadConfig()).raw);
  }
  async configDigest(): Promise<Digest> {
    return this.parsed.config.digest;
  }
  async layers(): Promise<Layer[]> {
    return [...this.layerObjects];
  }

  /** Download every layer into the cache now (concurrently; the client bounds the transfers). */
  async fetchLayers(opts: StreamOptions = {}): Promise<void> {
    await Promise.all(this.layerObjects.map((l) => l.fetch(opts)));
  }
}

/** A multi-platform index in a registry; children are opened (by digest) only when asked. */
export class RemoteIndex implements ImageIndex {
  readonly kind = 'index' as const;
  readonly location: BlobLocation;
  readonly ref: Reference;
  private readonly fetched: Fetched;
  private readonly parsed: ImageIndexDocument;
  private readonly opts: RemoteOptions;
  /** Children opened so far: a push or copy opens each child more than once (to convert, then to write). */
  private readonly opened = new Map<Digest, Promise<Image | ImageIndex>>();

  constructor(ref: Reference, fetched: Fetched, parsed: ImageIndexDocument, opts: RemoteOptions) {
    this.ref = ref;
    this.location = { registry: ref.registry, repository: ref.repository };
    this.fetched = fetched;
    this.parsed = parsed;
    this.opts = opts;
  }

  async mediaType(): Promise<string> {
    return this.fetched.mediaType;
  }
  async rawManifest(): Promise<Uint8Array> {
    return this.fetched.bytes;
  }
  async manifest(): Promise<ImageIndexDocument> {
    return structuredClone(this.parsed);
  }
  async digest(): Promise<Digest> {
    return this.fetched.digest;
  }
  async size(): Promise<number> {
    return this.fetched.bytes.byteLength;
  }
  async children(): Promise<IndexChild[]> {
    return this.parsed.manifests.map((descriptor) => ({
      descriptor: structuredClone(descriptor),
      open: () => this.open(descriptor.digest),
    }));
  }

  private open(digest: Digest): Promise<Image | ImageIndex> {
    let child = this.opened.get(digest);
    if (!child) {
      child = get(this.ref.withDigest(digest), this.opts);
      // A failed open is forgotten, so that asking again retries it.
      child.catch(() => this.opened.delete(digest));
      this.opened.set(digest, child);
    }
    return child;
  }

  /** The child image for a platform (default: the running machine's). */
  async image(platform?: Platform | string): Promise<Image> {
    const want = wantedPlatform(platform);
    const d = platformEntry(this.parsed, want);
    // A nested index is searched for the same platform.
    return image(this.ref.withDigest(d.digest), { ...this.opts, ...(want ? { platform: want } : {}) });
  }
}

function wantedPlatform(p: Platform | string | undefined): Platform | undefined {
  return typeof p === 'string' ? parsePlatform(p) : p;
}

async function fetchManifest(client: RegistryClient, ref: Reference, signal?: AbortSignal): Promise<Fetched> {
  const m = await client.getManifest(ref, signal ? { signal } : {});
  return { bytes: m.bytes, mediaType: m.mediaType, digest: m.digest };
}

async function imageFrom(
  ref: Reference,
  fetched: Fetched,
  parsed: ImageManifest,
  opts: RemoteOptions,
): Promise<RemoteImage> {
  const client = opts.client ?? defaultClient();
  const cache = resolveCache(opts.cache);
  if (!isConfigMediaType(parsed.config.mediaType)) {
    throw new UnsupportedMediaTypeError(
      parsed.config.mediaType,
      'config',
      `${ref} is an artifact, not a container image; pd reads images only`,
    );
  }
  const location = { registry: ref.registry, repository: ref.repository };
  const rawConfig = () => fetchConfig(client, location, parsed.config, cache, opts.signal);
  // Pin the reference to what was read, so later lookups (children, mounts) see the same content.
  return new RemoteImage({ ref, client, cache, manifest: fetched, parsed, rawConfig });
}

/**
 * Whatever `ref` names: an {@link ImageIndex} (all platforms kept, children lazy) or an image.
 * Fetches the manifest only: an image's config when first asked for, layer bytes when a stream
 * opens.
 */
export async function get(ref: Reference | string, opts: RemoteOptions = {}): Promise<Image | ImageIndex> {
  const r = toRef(ref);
  const client = opts.client ?? defaultClient();
  const fetched = await fetchManifest(client, r, opts.signal);
  const parsed = parseManifest(fetched.bytes, fetched.mediaType);
  if (parsed.kind === 'index') return new RemoteIndex(r, fetched, parsed.index, { ...opts, client });
  return imageFrom(r, fetched, parsed.manifest, { ...opts, client });
}

/**
 * One image: when `ref` names an index, the entry for `platform` (default: the running
 * machine's) is picked, through nested indexes too. Lazy: the manifest(s) are fetched, the config
 * when first asked for, no layer bytes.
 */
export async function image(ref: Reference | string, opts: RemoteImageOptions = {}): Promise<RemoteImage> {
  const r = toRef(ref);
  const client = opts.client ?? defaultClient();
  const o = { ...opts, client };
  let at = r;
  let fetched = await fetchManifest(client, r, opts.signal);
  let parsed = parseManifest(fetched.bytes, fetched.mediaType);
  // An index may name another index for a platform (podman and buildx write such layouts):
  // follow it, as imageForPlatform does. Children are fetched by digest and verified, so a
  // registry cannot make this loop; the bound only stops a chain that no tool writes.
  for (let depth = 0; parsed.kind === 'index'; depth++) {
    if (depth === MAX_INDEX_DEPTH) {
      throw new UnsupportedMediaTypeError(
        fetched.mediaType,
        'platform entry',
        `more than ${MAX_INDEX_DEPTH} indexes nested in ${r}`,
      );
    }
    at = r.withDigest(platformEntry(parsed.index, wantedPlatform(opts.platform)).digest);
    fetched = await fetchManifest(client, at, opts.signal);
    parsed = parseManifest(fetched.bytes, fetched.mediaType);
  }
  return imageFrom(at, fetched, parsed.manifest, o);
}

const MAX_INDEX_DEPTH = 16;

/** An index or manifest list; throws when `ref` names a single image (its config is not fetched). */
export async function index(ref: Reference | string, opts: RemoteOptions = {}): Promise<RemoteIndex> {
  const r = toRef(ref);
  const client = opts.client ?? defaultClient();
  const fetched = await fetchManifest(client, r, opts.signal);
  const parsed = parseManifest(fetched.bytes, fetched.mediaType);
  if (parsed.kind !== 'index') {
    throw new UnsupportedMediaTypeError(fetched.mediaType, 'index', `${r} is a single image, not an index`);
  }
  return new RemoteIndex(r, fetched, parsed.index, { ...opts, client });
}
