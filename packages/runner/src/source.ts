import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import type { BlobCache, Image, ImageIndex, Layer, OpenImageOptions, StreamOptions } from '@pd/image';
import {
  createVerifier,
  type Digest,
  digestOf,
  type ImageConfig,
  type ImageManifest,
  parseImageConfig,
  parseManifest,
  parseReference,
} from '@pd/oci-types';
import { ImageNotLocalError } from './errors.js';
import type { PullPolicy, RunnerEvent } from './options.js';
import { defaultCacheDir } from './paths.js';

// Image inputs given as strings. A path that exists is a file format (docker archive, OCI layout
// or archive) and is read locally. Anything else is a reference, resolved with docker's pull
// policy: `missing` (default) uses what this machine resolved before and asks no registry;
// `always` asks the registry for the tag's current manifest; `never` fails rather than ask.
// What a reference resolved to is kept in `<cache>/refs/<sha256 of the reference>.json`: the
// manifest and config bytes and the platform, so a warm run reads one small file and no network.

/** What a reference resolved to; also what a container records of its image (commit.ts). */
export interface RefRecord {
  ref: string;
  platform: string;
  manifest: string; // base64 of the exact bytes
  mediaType: string;
  config: string; // base64
  resolvedAt: string;
}

export interface ResolveOptions {
  pull?: PullPolicy;
  client?: OpenImageOptions['client'];
  platform?: string;
  cacheDir: string;
  signal?: AbortSignal;
  onLog?: (event: RunnerEvent) => void;
}

export function resolveOptions(o: {
  pull?: PullPolicy;
  client?: OpenImageOptions['client'];
  platform?: string;
  cacheDir?: string;
  signal?: AbortSignal;
  onLog?: (e: RunnerEvent) => void;
}): ResolveOptions {
  return {
    cacheDir: o.cacheDir ?? defaultCacheDir(),
    ...(o.pull ? { pull: o.pull } : {}),
    ...(o.client ? { client: o.client } : {}),
    ...(o.platform ? { platform: o.platform } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onLog ? { onLog: o.onLog } : {}),
  };
}

/**
 * Whether `input` may be more than a plain reference (a path, `PATH:TAG`, a transport): then
 * @pd/image's parser decides. A plain `busybox:1.36` costs two stats and loads nothing.
 */
export async function mayNameFile(input: string): Promise<boolean> {
  if (/^(?:docker:\/\/|oci:|oci-archive:|docker-archive:)/.test(input)) return true;
  // Synchronous stats (see prepareBundle): a reference with a port and a tag is three of them.
  if (existsSync(input)) return true;
  for (let i = input.lastIndexOf(':'); i > 0; i = input.lastIndexOf(':', i - 1)) {
    if (existsSync(input.slice(0, i))) return true;
  }
  return /^(?:\/|\.\.?\/|~)|\.tar(?::[^/]*)?$/i.test(input);
}

function recordPath(cacheDir: string, ref: string, platform: string): string {
  const key = createHash('sha256').update(`${ref}\n${platform}`).digest('hex');
  return join(cacheDir, 'refs', `${key}.json`);
}

/** Turn a string input into an Image; Images pass through. */
export async function resolveImage(input: Image | string, opts: ResolveOptions): Promise<Image> {
  if (typeof input !== 'string') {
    if (typeof input?.config !== 'function')
      throw new TypeError('run: the image must be an Image, a path or a reference');
    return input;
  }
  // @pd/image (and its registry client) is loaded only when the image is not known locally: a
  // plain reference is read here; a file, a transport (oci:DIR:REF, docker-archive:FILE:@N...)
  // or `docker://REF` goes through @pd/image's parser.
  let ref: string;
  if (await mayNameFile(input)) {
    const { openImage, parseImageSource } = await import('@pd/image');
    const source = await parseImageSource(input);
    if (source.transport !== 'docker') {
      return openImage(source, {
        ...(opts.platform ? { platform: opts.platform } : {}),
        ...(opts.client ? { client: opts.client } : {}),
      });
    }
    ref = source.ref.toString();
  } else {
    ref = parseReference(input).toString();
  }
  const platform = opts.platform ?? 'host';
  const file = recordPath(opts.cacheDir, ref, platform);
  const pull = opts.pull ?? 'missing';
  if (pull !== 'always') {
    const record = await readRecord(file);
    if (record) {
      opts.onLog?.({
        kind: 'resolve',
        message: `${ref}: resolved locally (pulled ${record.resolvedAt}); no registry asked`,
        ref,
        source: 'local',
      });
      return new RecordedImage(record, opts);
    }
    if (pull === 'never') throw new ImageNotLocalError(ref);
  }
  const image = await import('@pd/image');
  // Its layers come down next (those not in the blob cache): their connections open while the
  // manifest is on the way, as for pd pull (a round trip less per layer, a TLS handshake less).
  (opts.client ?? image.defaultClient()).preconnect(ref);
  const remote = await image.openImage(ref, remoteOptions(opts, new image.BlobCache(opts.cacheDir)));
  opts.onLog?.({ kind: 'resolve', message: `${ref}: resolved by the registry`, ref, source: 'registry' });
  await writeRecord(file, {
    ref,
    platform,
    manifest: Buffer.from(await remote.rawManifest()).toString('base64'),
    mediaType: await remote.mediaType(),
    config: Buffer.from(await remote.rawConfig()).toString('base64'),
    resolvedAt: new Date().toISOString(),
  });
  return remote;
}

function remoteOptions(opts: ResolveOptions, cache: BlobCache): OpenImageOptions {
  return {
    cache,
    ...(opts.client ? { client: opts.client } : {}),
    ...(opts.platform ? { platform: opts.platform } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}

async function readRecord(file: string): Promise<RefRecord | undefined> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RefRecord;
  } catch {
    return undefined;
  }
}

async function writeRecord(file: string, record: RefRecord): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(record));
  await rename(tmp, file);
}

/**
 * An image known from an earlier resolution. Metadata comes from the record; layer bytes, when
 * someone asks for them (a layer not unpacked yet, a docker load), come from the blob cache or,
 * failing that, from the registry through @pd/image.
 */
export class RecordedImage implements Image {
  readonly kind = 'image' as const;
  private readonly manifestBytes: Buffer;
  private readonly configBytes: Buffer;
  private readonly parsed: ImageManifest;
  private readonly cfg: ImageConfig;
  private remote: Promise<Image | ImageIndex> | undefined;

  constructor(
    private readonly record: RefRecord,
    private readonly opts: ResolveOptions,
  ) {
    this.manifestBytes = Buffer.from(record.manifest, 'base64');
    this.configBytes = Buffer.from(record.config, 'base64');
    const m = parseManifest(this.manifestBytes, record.mediaType);
    if (m.kind !== 'manifest') throw new TypeError(`${record.ref}: recorded manifest is an index`);
    this.parsed = m.manifest;
    this.cfg = parseImageConfig(this.configBytes);
  }

  async mediaType(): Promise<string> {
    return this.record.mediaType;
  }
  async rawManifest(): Promise<Uint8Array> {
    return this.manifestBytes;
  }
  async manifest(): Promise<ImageManifest> {
    return this.parsed;
  }
  async digest(): Promise<Digest> {
    return digestOf(this.manifestBytes);
  }
  async size(): Promise<number> {
    return this.manifestBytes.length;
  }
  async rawConfig(): Promise<Uint8Array> {
    return this.configBytes;
  }
  async config(): Promise<ImageConfig> {
    return this.cfg;
  }
  async configDigest(): Promise<Digest> {
    return this.parsed.config.digest;
  }
  async layers(): Promise<Layer[]> {
    const diffIds = this.cfg.rootfs.diff_ids;
    return this.parsed.layers.map((d, i) => {
      const blob = (opts: StreamOptions) => this.openBlob(d.digest, i, opts);
      return {
        digest: async () => d.digest,
        diffId: async () => diffIds[i]!,
        size: async () => d.size,
        mediaType: async () => d.mediaType,
        compressed: blob,
        // Checked against the diffID like every @pd/image layer: the layer store trusts it.
        uncompressed: async (opts: StreamOptions = {}) => {
          const tar = (await import('@pd/tar')).decompress(await blob(opts));
          return pipeline(tar, createVerifier(diffIds[i]!, { subject: `layer ${diffIds[i]}` }), () => {});
        },
      };
    });
  }

  private async openBlob(digest: Digest, i: number, opts: StreamOptions): Promise<Readable> {
    const cache = await this.cache();
    if (await cache.has(digest)) return cache.open(digest);
    return (await this.remoteLayer(i)).compressed(opts);
  }

  private async cache(): Promise<BlobCache> {
    const { BlobCache } = await import('@pd/image');
    return new BlobCache(this.opts.cacheDir);
  }

  private async remoteLayer(i: number): Promise<Layer> {
    if (this.record.ref === '') {
      throw new ImageNotLocalError(
        `layer ${this.parsed.layers[i]!.digest}`,
        'it is in no cache and the image names no source',
      );
    }
    const cache = await this.cache();
    this.remote ??= import('@pd/image').then((m) =>
      m.openImage(this.record.ref, remoteOptions(this.opts, cache)),
    );
    const img = await this.remote;
    if (img.kind !== 'image') throw new TypeError(`${this.record.ref} resolved to an index`);
    const layer = (await img.layers())[i];
    if (!layer || (await layer.digest()) !== this.parsed.layers[i]!.digest) {
      throw new ImageNotLocalError(
        this.record.ref,
        'the tag has moved since it was pulled; run with pull "always"',
      );
    }
    return layer;
  }
}
