import { Readable } from 'node:stream';
import { abortGroup, mapLimit } from '@pd/internal';
import {
  type Compression,
  type Descriptor,
  type Digest,
  DigestMismatchError,
  parseReference,
  Reference,
} from '@pd/oci-types';
import type { RegistryClient, ProgressEvent as RegistryProgress, RepositoryLike } from '@pd/registry';
import type { FileSlice } from '@pd/tar';
import { defaultClient } from '../client.js';
import { verifiesItself } from '../formats/verified-stream.js';
import { RemoteLayer } from '../layers/remote.js';
import type { BlobLocations } from '../locations.js';
import type { BlobLocation, Image, ImageIndex, Layer, ProgressEvent, StreamOptions } from '../model.js';
import { compressAll } from '../mutate/convert.js';
import { whileBlobsSettle } from './settle.js';

/** Options of `push`. */
export interface PushOptions extends StreamOptions {
  /** The registry client (default: the shared `defaultClient`). */
  client?: RegistryClient;
  /**
   * Blobs handled at once (default 6, the registry client's own bound per registry, so that a
   * copy within a registry sends the mounts of a 5-layer image and its config in one round).
   */
  concurrency?: number;
  /**
   * How uncompressed layers (`docker save` writes them so) are uploaded: `gzip` (default), `zstd`,
   * or `none` to push them as they are. Compressed layers always go as they are. Compressing gives
   * new layer digests, so a new manifest digest (the config and its diffIDs are unchanged); a
   * Docker image with zstd layers becomes an OCI image. `none` keeps every digest.
   */
  compression?: Compression;
  /**
   * Where blobs were seen in registries (`new BlobLocations()` or `BlobLocations.default()`: in
   * the cache directory; default none). A blob that another repository of the target's
   * registry held when it was last pushed there is mounted from it instead of uploaded, as skopeo
   * does from its blob-info cache; every blob pushed is noted. The pd CLI passes its own.
   */
  locations?: BlobLocations | undefined;
}

/** What `push` pushed, and where. */
export interface PushResult {
  /** Digest of the manifest (or index) pushed. */
  digest: Digest;
  /** Its size in bytes. */
  size: number;
  /** Its media type. */
  mediaType: string;
  /** Where it was pushed, pinned by digest (and tagged when a tag was given). */
  ref: Reference;
  /** Digest of the image given, when the one pushed differs (its uncompressed layers were compressed). */
  sourceDigest?: Digest;
  /** Layers compressed on the way (counted once per distinct blob). */
  compressedLayers?: number;
}

type Phase = NonNullable<ProgressEvent['phase']>;

function phaseOf(p: string | undefined): Phase {
  if (p === 'exists') return 'skip';
  if (p === 'mounted') return 'mount';
  return 'upload';
}

/** Same registry, another repository: the blob can be mounted instead of uploaded. */
function mountSource(location: BlobLocation | undefined, target: RepositoryLike): RepositoryLike | undefined {
  if (!location || location.registry !== target.registry || location.repository === target.repository) {
    return undefined;
  }
  return location;
}

/**
 * Another registry, whose blob the upload may read itself (registry to registry, socket to socket
 * over plain HTTP): a remote layer that keeps no copy. One that fills the blob cache is streamed
 * through it, so that the cache still fills.
 */
function pipeSource(layer: Layer, target: RepositoryLike): RepositoryLike | undefined {
  const { location } = layer;
  if (!(layer instanceof RemoteLayer) || layer.keepsCopies || !location) return undefined;
  return location.registry === target.registry ? undefined : location;
}

/** One blob to push: its descriptor and the ways to its bytes. */
interface Blob {
  d: { digest: Digest; size: number };
  open: (signal: AbortSignal) => Promise<Readable>;
  /** The registry repository that holds it, for a mount. */
  location: BlobLocation | undefined;
  label: string;
  /** Its stream checks itself against its digest. */
  verified: boolean;
  /** Where it sits in a local file, if it does. */
  file: () => Promise<FileSlice | undefined>;
  /** Where the upload may read it from another registry itself (pipeSource). */
  from: RepositoryLike | undefined;
}

interface Ctx {
  client: RegistryClient;
  target: Reference;
  opts: PushOptions;
  locations: BlobLocations | undefined;
  /** Records of where blobs went, being written: awaited after the manifest, never before it. */
  notes: Promise<void>[];
}

/** Mount sources for a blob, at most this many from the locations seen before (each a request when it does not take). */
const SEEN_MOUNTS = 2;

/**
 * Where to mount a blob from: its own repository when it is in the target's registry, then those
 * of that registry where pd saw it last (pushed or mounted there before).
 */
async function mountSources(ctx: Ctx, b: Blob): Promise<RepositoryLike[]> {
  const { target, locations } = ctx;
  const own = mountSource(b.location, target);
  const seen = locations ? await locations.repositories(target.registry, b.d.digest) : [];
  const others = seen
    .filter((repository) => repository !== target.repository && repository !== own?.repository)
    .slice(0, SEEN_MOUNTS)
    .map((repository) => ({ registry: target.registry, repository }));
  return own ? [own, ...others] : others;
}

/**
 * Upload one blob unless another repository of the same registry has it (mount) or the target
 * has it (skip: a mount answers 201 then too, else a HEAD tells). Bytes are opened only for an
 * upload, and are the compressed blob as it is: never decompressed and recompressed on the way.
 */
async function pushBlob(ctx: Ctx, b: Blob, signal: AbortSignal): Promise<void> {
  const { d, label } = b;
  const { client, target, opts, locations } = ctx;
  const mountFrom = await mountSources(ctx, b);
  const file = await b.file();
  const onProgress = opts.onProgress;
  // The client reports a failing source as a failed request; keep the source's own error (a
  // digest mismatch of the layer being copied, a pruned cache file) to say what really broke.
  let sourceError: unknown;
  const guarded = async () => {
    try {
      const stream = await b.open(signal);
      stream.once('error', (e) => {
        sourceError ??= e;
      });
      return stream;
    } catch (e) {
      sourceError ??= e;
      throw e;
    }
  };
  try {
    await client.uploadBlob(target, guarded, {
      digest: d.digest,
      size: d.size,
      label,
      signal: opts.signal,
      // A self-verifying layer's stream fails before its end on wrong bytes: hashing it again
      // while uploading would be a second pass over every byte.
      sourceVerified: b.verified,
      // Where the blob sits in a local file: sent from there (hashed on the way) instead of open().
      ...(file && file.digest === d.digest && file.size === d.size
        ? { file: { path: file.path, start: file.start } }
        : {}),
      ...(mountFrom.length > 0 ? { mountFrom } : {}),
      ...(b.from ? { from: b.from } : {}),
      onProgress: onProgress
        ? (e: RegistryProgress) =>
            onProgress({ id: d.digest, label, phase: phaseOf(e.phase), done: e.done, total: d.size })
        : undefined,
    });
  } catch (e) {
    throw sourceError ?? e;
  }
  // A hint: a record that cannot be written is no record, never a failed push.
  const note = locations?.remember(target.registry, target.repository, d.digest).catch(() => undefined);
  if (note) ctx.notes.push(note);
}

async function pushImage(ctx: Ctx, image: Image, tagOrDigest: Reference): Promise<PushResult> {
  const { client, opts } = ctx;
  const [manifest, layers, raw, mediaType, digest] = await Promise.all([
    image.manifest(),
    image.layers(),
    image.rawManifest(),
    image.mediaType(),
    image.digest(),
  ]);
  // Descriptors as the manifest lists them; one upload per distinct blob.
  const byDigest = new Map<string, { d: Descriptor; layer: Layer; index: number }>();
  manifest.layers.forEach((d, i) => {
    const layer = layers[i];
    if (layer && !byDigest.has(d.digest)) byDigest.set(d.digest, { d, layer, index: i });
  });
  const total = manifest.layers.length;
  // The config goes with the layers (only the manifest must wait for them all), and its bytes are
  // read only for an upload: a copy within a registry mounts it and never fetches it.
  const blobs = [...byDigest.values()].map(
    ({ d, layer, index }): Blob => ({
      d,
      open: (signal) => layer.compressed({ signal }),
      location: layer.location,
      label: `layer ${index + 1}/${total}`,
      verified: verifiesItself(layer),
      file: async () => layer.compressedFile?.(),
      from: pipeSource(layer, ctx.target),
    }),
  );
  if (!byDigest.has(manifest.config.digest)) {
    blobs.push({
      d: manifest.config,
      open: async () => Readable.from([Buffer.from(await image.rawConfig())]),
      location: image.location,
      label: 'config',
      verified: false,
      file: async () => undefined,
      from: undefined,
    });
  }
  // One failed blob stops the others: the image cannot be completed anyway.
  const stop = abortGroup(opts.signal);
  const { signal } = stop;
  const layerCtx: Ctx = { ...ctx, opts: { ...opts, signal } };
  try {
    try {
      await mapLimit(blobs, opts.concurrency ?? 6, (b) => pushBlob(layerCtx, b, signal));
    } catch (e) {
      stop.abort(e);
      throw e;
    }
    await whileBlobsSettle(
      () => client.putManifest(tagOrDigest, raw, mediaType, opts.signal ? { signal: opts.signal } : {}),
      opts.signal,
    );
  } finally {
    // The last blob's record (a read, a write, a rename) went beside the manifest's PUT instead
    // of before it; none is left half-written when push returns or fails.
    await Promise.all(ctx.notes.splice(0));
  }
  return { digest, size: raw.byteLength, mediaType, ref: tagOrDigest.withDigest(digest) };
}

async function pushIndex(ctx: Ctx, index: ImageIndex, tagOrDigest: Reference): Promise<PushResult> {
  const { client, target, opts } = ctx;
  const byDigest = target.repo();
  // Children first, by digest, so the index never names a manifest the registry lacks.
  for (const child of await index.children()) {
    const at = byDigest.withDigest(child.descriptor.digest);
    const head = await client.headManifest(at, opts.signal ? { signal: opts.signal } : {});
    if (head) {
      opts.onProgress?.({
        id: child.descriptor.digest,
        phase: 'skip',
        done: child.descriptor.size,
        total: child.descriptor.size,
      });
      continue;
    }
    const pushed = await pushAny(ctx, await child.open(), at);
    if (pushed.digest !== child.descriptor.digest) {
      throw new DigestMismatchError(
        `index entry ${child.descriptor.digest}`,
        child.descriptor.digest,
        pushed.digest,
      );
    }
  }
  const [raw, mediaType, digest] = await Promise.all([
    index.rawManifest(),
    index.mediaType(),
    index.digest(),
  ]);
  await client.putManifest(tagOrDigest, raw, mediaType, opts.signal ? { signal: opts.signal } : {});
  return { digest, size: raw.byteLength, mediaType, ref: tagOrDigest.withDigest(digest) };
}

function pushAny(ctx: Ctx, x: Image | ImageIndex, at: Reference): Promise<PushResult> {
  return x.kind === 'index' ? pushIndex(ctx, x, at) : pushImage(ctx, x, at);
}

/** Distinct layers of an image or index that `compressAll` replaced. */
async function countRecoded(before: Image | ImageIndex, after: Image | ImageIndex): Promise<number> {
  if (before === after) return 0;
  const digests = async (x: Image | ImageIndex, out: Set<string>) => {
    if (x.kind === 'image') {
      for (const d of (await x.manifest()).layers) out.add(d.digest);
      return;
    }
    for (const c of await x.children()) await digests(await c.open(), out);
  };
  const [a, b] = [new Set<string>(), new Set<string>()];
  await digests(before, a);
  await digests(after, b);
  return [...b].filter((d) => !a.has(d)).length;
}

/**
 * Push an image or an index to `ref`. Uncompressed layers are first compressed (gzip unless
 * `compression` says otherwise; into the blob cache, deterministically); compressed ones are
 * untouched. Layers and the config go concurrently (bounded), then the manifest; an index
 * pushes its children by digest first. Blobs already in the target repository are skipped,
 * blobs in another repository of the same registry are mounted, and only the rest is uploaded,
 * compressed as it is: a lazy remote image pushed to its own registry moves no layer bytes.
 * `ref` without a tag gets `latest`; with a digest, the image pushed must have that digest.
 * `sourceDigest` in the result says when the digest pushed is not the one of `x`.
 */
export async function push(
  source: Image | ImageIndex,
  ref: Reference | string,
  opts: PushOptions = {},
): Promise<PushResult> {
  const target = typeof ref === 'string' ? parseReference(ref) : ref;
  const x = await compressAll(source, opts.compression ?? 'gzip', {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  const digest = await x.digest();
  if (target.digest && target.digest !== digest) {
    throw new DigestMismatchError(`push to ${target}`, target.digest, digest);
  }
  // The registry stores a manifest under one name: the tag when there is one, else the digest.
  const at = target.tag
    ? new Reference({ registry: target.registry, repository: target.repository, tag: target.tag })
    : target.repo().withDigest(digest);
  const ctx: Ctx = {
    client: opts.client ?? defaultClient(),
    target: target.repo(),
    opts,
    locations: opts.locations,
    notes: [],
  };
  const result = await pushAny(ctx, x, at);
  if (x === source) return result;
  const sourceDigest = await source.digest();
  return {
    ...result,
    ...(sourceDigest !== digest ? { sourceDigest } : {}),
    compressedLayers: await countRecoded(source, x),
  };
}
