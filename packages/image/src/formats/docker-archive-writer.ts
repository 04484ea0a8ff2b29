import {
  type Descriptor,
  type DockerArchiveEntry,
  type DockerRepositories,
  digestHex,
  InvalidReferenceError,
  MediaType,
  OCI_LAYOUT_VERSION,
  parseReference,
  type Reference,
} from '@pd/oci-types';
import type { Image, StreamOptions } from '../model.js';
import { withoutZstdLayers } from '../mutate/convert.js';
import { writeFileAtomically } from './atomic-file.js';
import {
  type BlobToWrite,
  type ImageParts,
  imageParts,
  type ManifestPolicy,
  platformOf,
} from './image-blobs.js';
import { IMAGE_NAME_ANNOTATION, REF_NAME_ANNOTATION } from './oci-layout-reader.js';
import { type BlobNaming, combinedNames, writeBlobMembers } from './tar-blobs.js';
import { TarWriter } from './tar-writer.js';

/** An image to write into a docker archive, and the tags to load it as. */
export interface DockerArchiveInput {
  /** The image to write. */
  image: Image;
  /** Tags to load the image as (`busybox`, `busybox:1.36`, `localhost:5000/app:v1`); may be empty. */
  tags: string[];
}

/** The member layout of a docker archive: Docker ≥ 25's (`combined`), or the one before (`classic`). */
export type DockerArchiveLayout = 'classic' | 'combined';

/** Options of `writeDockerArchive`. */
export interface WriteDockerArchiveOptions extends StreamOptions {
  /**
   * `combined` (default): a docker archive that is also an OCI image layout; `manifest.json` points
   * into `blobs/sha256/`, as Docker ≥ 25 writes. `classic`: the `docker save` layout of Docker
   * before 25 (`<hex>.json` configs, `<hex>/layer.tar` layers), for tools that expect exactly that.
   */
  layout?: DockerArchiveLayout;
  /**
   * Manifests of the OCI view of a `combined` archive: `oci` (default) as Docker ≥ 25 writes them,
   * `keep` byte for byte (Docker-format ones too), so that digests survive a round trip.
   */
  manifests?: ManifestPolicy;
}

interface ArchiveImage {
  parts: ImageParts;
  refs: Reference[];
}

/**
 * Write images as a tar that `docker load` (and podman, skopeo `docker-archive:`) reads. Layers
 * are stored as they are when gzip or uncompressed: docker load, podman and skopeo decompress
 * layer members themselves, and streaming the compressed bytes through is what keeps this fast
 * and small. zstd layers are made gzip on the way (through the blob cache), since docker before 23
 * cannot load them; the diffIDs, so the image ID docker shows, do not change.
 * Deterministic (same images and tags → same bytes); written to a temporary file and renamed.
 */
export async function writeDockerArchive(
  path: string,
  entries: DockerArchiveInput[],
  options: WriteDockerArchiveOptions = {},
): Promise<void> {
  const layout = options.layout ?? 'combined';
  const images = await collect(entries, layout, options);
  const naming = layout === 'classic' ? classicNames : combinedNames;

  const manifest: DockerArchiveEntry[] = images.map(({ parts, refs }) => ({
    Config: naming.config(parts.config.descriptor),
    RepoTags: refs.map((r) => r.familiar()),
    Layers: parts.layers.map((l) => naming.layer(l.descriptor)),
  }));

  const repositories: DockerRepositories = {};
  for (const { parts, refs } of images) {
    const top = parts.layers.at(-1);
    // The legacy file maps tags to a 64-hex top layer ID: none without layers (or for sha512 blobs).
    const id = top ? legacyLayerId(naming.layer(top.descriptor)) : '';
    if (!id) continue;
    for (const r of refs) {
      repositories[r.familiarName()] ??= {};
      repositories[r.familiarName()]![r.tag!] = id;
    }
  }

  const metadata: Array<[string, Uint8Array]> = [];
  if (layout === 'combined') {
    metadata.push(['oci-layout', json({ imageLayoutVersion: OCI_LAYOUT_VERSION })]);
    metadata.push(['index.json', json(combinedIndex(images))]);
  }
  metadata.push(['manifest.json', json(manifest)]);
  if (Object.keys(repositories).length) metadata.push(['repositories', json(repositories)]);

  // Combined archives hold the manifests too (they are the OCI layout's); classic ones do not.
  const blobs: BlobToWrite[] = [];
  for (const { parts } of images) {
    if (layout === 'combined') blobs.push(parts.manifest);
    blobs.push(parts.config, ...parts.layers);
  }

  await writeFileAtomically(
    path,
    async (fh) => {
      const tar = new TarWriter(fh);
      for (const [name, data] of metadata) await tar.file(name, data);
      await writeBlobMembers(tar, blobs, naming, options);
      await tar.finish();
    },
    { sync: false },
  );
}

const classicNames: BlobNaming = {
  config: (d) => `${digestHex(d.digest)}.json`,
  // Named by the blob digest: the same layer in two images is stored once.
  layer: (d) => `${digestHex(d.digest)}/layer.tar`,
  manifest: () => {
    throw new Error('classic docker archives hold no manifests');
  },
};

/** `repositories` wants a 64-hex layer ID: the member's directory or blob name serves. */
function legacyLayerId(member: string): string {
  const m = /([a-f0-9]{64})(?:\/layer\.tar)?$/.exec(member);
  return m ? m[1]! : '';
}

function json(value: unknown): Uint8Array {
  return Buffer.from(`${JSON.stringify(value)}\n`);
}

/** One index.json entry per tag, named as Docker ≥ 25 and containerd name them; untagged images get a bare entry. */
function combinedIndex(images: ArchiveImage[]) {
  const manifests: Descriptor[] = [];
  for (const { parts, refs } of images) {
    const base: Descriptor = { ...parts.descriptor, platform: platformOf(parts.parsedConfig) };
    if (refs.length === 0) manifests.push(base);
    for (const r of refs) {
      manifests.push({
        ...base,
        annotations: { [IMAGE_NAME_ANNOTATION]: r.toString(), [REF_NAME_ANNOTATION]: r.tag! },
      });
    }
  }
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
}

function signalOnly(options: StreamOptions): StreamOptions {
  return options.signal ? { signal: options.signal } : {};
}

/** Check tags, read each image's parts; the same image given twice becomes one entry with all its tags. */
async function collect(
  entries: DockerArchiveInput[],
  layout: DockerArchiveLayout,
  options: WriteDockerArchiveOptions,
): Promise<ArchiveImage[]> {
  const byManifest = new Map<string, ArchiveImage>();
  const owner = new Map<string, string>();
  for (const { image: given, tags } of entries) {
    const image = await withoutZstdLayers(given, signalOnly(options));
    // The OCI view of a combined archive needs OCI manifests (what Docker ≥ 25 writes too);
    // manifest.json, which docker load reads, does not depend on them.
    // Config bytes as they are: docker load names the image by their digest (Docker ≥ 25 too
    // writes Docker's nulls into the config its OCI view points at).
    const parts = await imageParts(
      image,
      layout === 'combined' ? (options.manifests ?? 'oci') : 'keep',
      true,
    );
    const key = parts.original.digest;
    let entry = byManifest.get(key);
    if (!entry) {
      entry = { parts, refs: [] };
      byManifest.set(key, entry);
    }
    for (const tag of tags) {
      const ref = parseReference(tag);
      if (ref.digest !== undefined || ref.tag === undefined) {
        throw new InvalidReferenceError(
          tag,
          'a docker archive names images by tag, not by digest',
          'e.g. app:1.0',
        );
      }
      const full = ref.toString();
      const previous = owner.get(full);
      if (previous !== undefined && previous !== key) {
        throw new InvalidReferenceError(tag, 'given to two different images', 'each tag can name one image');
      }
      if (previous === undefined) {
        owner.set(full, key);
        entry.refs.push(ref);
      }
    }
  }
  return [...byManifest.values()];
}
