import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Digest, History, ImageConfig, ImageManifest, Platform, Reference } from '@pd/oci-types';
import { parseReference, tryParseReference } from '@pd/oci-types';
import type { Contents, PathPair } from '@pd/tar';
import { ComputedImage, type Family, type ImageParts, loadParts } from './computed.js';
import { MissingReferenceError } from './errors.js';
import { writeDockerArchive, writeOciArchive, writeOciLayout } from './formats/index.js';
import { type LayerFromPathOptions, layerFromContents, layerFromPaths } from './layers/built.js';
import { RemoteLayer } from './layers/remote.js';
import type { BlobLocation, Image as ImageModel, Layer, StreamOptions } from './model.js';
import { type Addendum, appendParts } from './mutate/append.js';
import { type ConfigEdits, type ConfigMapper, editConfigParts, mapConfigParts } from './mutate/config.js';
import { type FlattenOptions, flatten } from './mutate/flatten.js';
import { rebaseParts } from './mutate/rebase.js';
import { type LayerSelector, removeLayerParts } from './mutate/remove.js';
import { type OpenImageOptions, openFile } from './open.js';
import { imageForPlatform } from './platform.js';
import { type RemoteImageOptions, image as remoteImage } from './remote.js';
import { type ImageRunOptions, type ImageRunResult, runImage } from './runner.js';
import { type ScratchOptions, scratch } from './scratch.js';
import { type PushOptions, type PushResult, push } from './sinks/push.js';

/** Options of `Image.pull`: those of `remote.image`, and whether to download the layers now. */
export interface PullOptions extends RemoteImageOptions, StreamOptions {
  /** Fetch only manifest and config, layers when read (default true); false downloads every layer now. */
  lazy?: boolean;
}

/** Options of the `EditableImage.addLayer*` methods: how the layer is built, and its history entry. */
export interface AddLayerOptions extends LayerFromPathOptions {
  /** Fields of the history entry for the new layer. */
  history?: History;
}

/** A format `EditableImage.write` writes: a `docker save` tar, an OCI layout directory, or its tar. */
export type WriteFormat = 'docker-archive' | 'oci-layout' | 'oci-archive';

/** Options of `EditableImage.write`. */
export interface WriteOptions extends StreamOptions {
  /** Default docker-archive (what `docker load` reads). */
  format?: WriteFormat;
  /**
   * Tags to record (default: the image's name, when it has one). An OCI layout or archive records
   * the first as the entry's ref name (default: the tag of the image's name).
   */
  tags?: string[];
  /**
   * OCI layout / archive only: `oci` (default) writes Docker manifests as their OCI equivalents
   * (what skopeo and umoci read; new manifest digest), `keep` writes them byte for byte.
   */
  manifests?: 'oci' | 'keep';
}

/**
 * An image to change step by step, python-docker style: every method changes this object (and
 * returns it). It is an {@link ImageModel} too, so sinks and runners take it as it is; until
 * something changes it answers exactly as its source (same manifest bytes and digest, same
 * location, so a push of an unchanged pulled image mounts everything). Methods that build or
 * read layers are async; config edits are not.
 */
export class EditableImage implements ImageModel {
  readonly kind = 'image' as const;
  private source: ImageModel;
  private parts: ImageParts;
  private dirty = false;
  private computed: ComputedImage | undefined;
  private ref: Reference | undefined;

  private constructor(source: ImageModel, parts: ImageParts, ref: Reference | undefined) {
    this.source = source;
    this.parts = parts;
    this.ref = ref;
  }

  /** Wrap any image (remote, file, computed) for editing. */
  static async from(image: ImageModel, name?: string | Reference): Promise<EditableImage> {
    const ref = typeof name === 'string' ? parseReference(name) : name;
    return new EditableImage(image, await loadParts(image), ref);
  }

  // --- naming -----------------------------------------------------------------------------

  /** Full reference (`registry/repository:tag`) used by `push()` and `write()`, if any. */
  get name(): string | undefined {
    return this.ref?.toString();
  }
  set name(value: string | undefined) {
    this.ref = value === undefined ? undefined : parseReference(value);
  }
  get reference(): Reference | undefined {
    return this.ref;
  }

  /**
   * Set the tag (`v2`) of the current name, or the whole name when `value` names a repository
   * (it has a `/` or `:`, e.g. `localhost:5000/app:v2`, `app:v2`).
   */
  tag(value: string): this {
    if (value.includes('/') || value.includes(':') || value.includes('@')) {
      this.ref = parseReference(value);
    } else {
      if (!this.ref) throw new MissingReferenceError(`tag("${value}")`);
      this.ref = this.ref.withTag(value);
    }
    return this;
  }

  // --- the Image interface (of the current state) -----------------------------------------

  /** The current state as an immutable image (later edits do not change it). */
  snapshot(): ImageModel {
    if (!this.dirty) return this.source;
    this.computed ??= new ComputedImage(this.parts);
    return this.computed;
  }

  get location(): BlobLocation | undefined {
    return this.dirty ? undefined : this.source.location;
  }
  mediaType(): Promise<string> {
    return this.snapshot().mediaType();
  }
  rawManifest(): Promise<Uint8Array> {
    return this.snapshot().rawManifest();
  }
  manifest(): Promise<ImageManifest> {
    return this.snapshot().manifest();
  }
  digest(): Promise<Digest> {
    return this.snapshot().digest();
  }
  size(): Promise<number> {
    return this.snapshot().size();
  }
  rawConfig(): Promise<Uint8Array> {
    return this.snapshot().rawConfig();
  }
  config(): Promise<ImageConfig> {
    return this.snapshot().config();
  }
  configDigest(): Promise<Digest> {
    return this.snapshot().configDigest();
  }
  async layers(): Promise<Layer[]> {
    return [...this.parts.layers];
  }

  private update(parts: ImageParts): this {
    this.parts = parts;
    this.dirty = true;
    this.computed = undefined;
    return this;
  }

  // --- layers -----------------------------------------------------------------------------

  /** Remove a layer: the top one by default, or by index (negative from the top) or digest. */
  async removeLayer(which: LayerSelector = -1): Promise<this> {
    return this.update(await removeLayerParts(this.parts, which));
  }

  /** Put layers on top (each with an optional history entry). */
  async addLayer(...layers: Array<Layer | Addendum>): Promise<this> {
    return this.update(await appendParts(this.parts, layers));
  }

  /**
   * Add a host file or directory as a new layer. A directory's content lands under `dest`
   * (default `/`); a file lands at `dest` (default `/<its name>`; a `dest` ending in `/` is a
   * directory to put it in). `filter` drops or rewrites entries.
   */
  async addLayerPath(path: string, opts: AddLayerOptions = {}): Promise<this> {
    const isDir = (await stat(path)).isDirectory();
    const dest = isDir
      ? (opts.dest ?? '/')
      : opts.dest === undefined
        ? `/${basename(path)}`
        : opts.dest.endsWith('/')
          ? `${opts.dest}${basename(path)}`
          : opts.dest;
    return this.addLayerPaths([{ src: path, dest }], { ...opts, dest: undefined });
  }

  /** Add several host paths as one new layer, each at its `dest`. */
  async addLayerPaths(pairs: PathPair[], opts: AddLayerOptions = {}): Promise<this> {
    const layer = await layerFromPaths(pairs, opts);
    const where = pairs.map((p) => p.dest).join(' ');
    return this.addLayer({ layer, history: { created_by: `pd: add path(s) at ${where}`, ...opts.history } });
  }

  /** Add in-memory content as a new layer: `{ '/etc/app.conf': 'text' | bytes | { data, mode } }`. */
  async addLayerContents(contents: Contents, opts: AddLayerOptions = {}): Promise<this> {
    const layer = await layerFromContents(contents, opts);
    const n = contents instanceof Map ? contents.size : Object.keys(contents).length;
    return this.addLayer({ layer, history: { created_by: `pd: add ${n} file(s)`, ...opts.history } });
  }

  /** Merge all layers into one. */
  async flatten(opts: FlattenOptions = {}): Promise<this> {
    return this.update(await loadParts(await flatten(this.snapshot(), opts)));
  }

  /** Replace the old base's layers at the bottom by the new base's (see `rebase`). */
  async rebase(oldBase: ImageModel, newBase: ImageModel): Promise<this> {
    const [o, n] = await Promise.all([loadParts(oldBase), loadParts(newBase)]);
    return this.update(await rebaseParts(this.parts, o, n));
  }

  // --- config -----------------------------------------------------------------------------

  /** Set (or with null, unset) environment variables, keeping the order of the others. */
  setEnv(key: string, value: string | null): this;
  setEnv(values: Record<string, string | null>): this;
  setEnv(key: string | Record<string, string | null>, value?: string | null): this {
    const env = typeof key === 'string' ? { [key]: value ?? null } : key;
    return this.update(editConfigParts(this.parts, { env }));
  }

  unsetEnv(...keys: string[]): this {
    return this.update(editConfigParts(this.parts, { unsetEnv: keys }));
  }

  /** Cmd, Entrypoint, WorkingDir, User, Labels, ExposedPorts, Volumes, StopSignal... */
  editConfig(edits: ConfigEdits): this {
    return this.update(editConfigParts(this.parts, edits));
  }

  /** Edit a copy of the whole config (in place or by returning a new one); diff_ids must stay. */
  updateConfig(fn: ConfigMapper): this {
    return this.update(mapConfigParts(this.parts, fn));
  }

  /** Switch manifest and media types to the OCI or Docker family (blobs unchanged). */
  convert(family: Family): this {
    if (family === this.parts.family) return this;
    return this.update({
      ...this.parts,
      family,
      annotations: family === 'docker' ? undefined : this.parts.annotations,
    });
  }

  // --- sinks ------------------------------------------------------------------------------

  /** Write to a file (docker-archive by default; oci-archive) or a directory (oci-layout). */
  async write(path: string, opts: WriteOptions = {}): Promise<void> {
    const format = opts.format ?? 'docker-archive';
    const tags = opts.tags ?? (this.ref ? [this.ref.toString()] : []);
    const image = this.snapshot();
    // An OCI layout names entries by a short ref name (`v1`), not by a whole reference.
    const refName = opts.tags?.[0] ?? this.ref?.tag;
    const io = {
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    };
    if (format === 'docker-archive') await writeDockerArchive(path, [{ image, tags }], io);
    else {
      const oci = {
        ...io,
        ...(refName ? { tag: refName } : {}),
        ...(opts.manifests ? { manifests: opts.manifests } : {}),
      };
      if (format === 'oci-layout') await writeOciLayout(path, image, oci);
      else await writeOciArchive(path, image, oci);
    }
  }

  /** Push to `ref` (default: the image's name). */
  async push(ref?: string | Reference, opts: PushOptions = {}): Promise<PushResult> {
    const target = ref ?? this.ref;
    if (!target) throw new MissingReferenceError('push()');
    return push(this.snapshot(), target, opts);
  }

  /** Run a command in the image through the registered runner (import `@pd/runner` first). */
  run(cmd?: string[] | string, opts: Omit<ImageRunOptions, 'cmd'> = {}): Promise<ImageRunResult> {
    const args = typeof cmd === 'string' ? ['/bin/sh', '-c', cmd] : cmd;
    return runImage(this.snapshot(), { ...opts, ...(args ? { cmd: args } : {}) });
  }

  /** Download every layer into the cache now (what `pull({ lazy: false })` does). */
  async fetchLayers(opts: StreamOptions = {}): Promise<void> {
    await Promise.all(
      this.parts.layers.map((l) => (l instanceof RemoteLayer ? l.fetch(opts) : Promise.resolve())),
    );
  }
}

/** Pull an image from a registry: lazy by default (manifest and config now, layers when read). */
async function pull(ref: string | Reference, opts: PullOptions = {}): Promise<EditableImage> {
  const img = await remoteImage(ref, opts);
  const editable = await EditableImage.from(img, typeof ref === 'string' ? parseReference(ref) : ref);
  if (opts.lazy === false) await editable.fetchLayers(opts);
  return editable;
}

/** Read a docker archive, OCI archive or OCI layout directory. */
async function fromFile(path: string, opts: OpenImageOptions = {}): Promise<EditableImage> {
  const got = await openFile(path, opts);
  const platform = opts.platform === 'all' ? undefined : (opts.platform as Platform | string | undefined);
  const image = got.kind === 'index' ? await imageForPlatform(got, platform) : got;
  // A RepoTag (`app:v1`) names the image; a bare ref.name (`latest`) or a digest does not.
  const ref = opts.tag !== undefined && /[/:]/.test(opts.tag) ? tryParseReference(opts.tag) : undefined;
  return EditableImage.from(image, ref);
}

/** An empty image to build on (FROM scratch). */
async function fromScratch(opts: ScratchOptions = {}): Promise<EditableImage> {
  return EditableImage.from(scratch(opts));
}

/**
 * The seed API: `Image.pull(ref)`, `Image.fromFile(path)`, `Image.scratch()`, `Image.from(image)`
 * give an `EditableImage`. `Image` is also the type of any image (the model interface).
 */
export const Image = {
  pull,
  fromFile,
  scratch: fromScratch,
  from: (image: ImageModel, name?: string | Reference) => EditableImage.from(image, name),
};
export type Image = ImageModel;
