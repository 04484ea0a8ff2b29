import type { Readable } from 'node:stream';
import {
  type Descriptor,
  digestOf,
  type ImageConfig,
  type ImageManifest,
  MediaType,
  type Platform,
  parseImageConfig,
  toOciIndex,
  toOciManifest,
} from '@pd/oci-types';
import { serializeConfig } from '../computed.js';
import { InconsistentImageError } from '../errors.js';
import type { Image, ImageIndex, Layer, StreamOptions } from '../model.js';
import { hasNullFields, withoutNullFields } from '../mutate/null-fields.js';
import { verified, verifiesItself } from './verified-stream.js';

function inconsistent(problem: string): InconsistentImageError {
  return new InconsistentImageError(
    `inconsistent image: ${problem}`,
    'the image source reports metadata that does not match its manifest; nothing was written',
  );
}

/** A manifest, index or config: small, held in memory. */
export interface MetaBlob {
  kind: 'manifest' | 'index' | 'config';
  descriptor: Descriptor;
  data: Uint8Array;
}

/** A layer blob, streamed from its Layer when written. */
export interface LayerBlob {
  kind: 'layer';
  descriptor: Descriptor;
  layer: Layer;
}

export type BlobToWrite = MetaBlob | LayerBlob;

/** Everything a sink needs of one image, checked for consistency before a byte is written. */
export interface ImageParts {
  /** Descriptor of the source's manifest. */
  original: Descriptor;
  /** Descriptor of the manifest as written (differs from `original` only after a conversion). */
  descriptor: Descriptor;
  manifest: MetaBlob;
  config: MetaBlob;
  parsedConfig: ImageConfig;
  layers: LayerBlob[];
}

/**
 * What manifests a file sink writes: the source's as they are (`keep`), or OCI ones (`oci`).
 * `keep`: byte for byte as the source has them (digests preserved).
 * `oci`: Docker schema 2 manifests and manifest lists become their OCI equivalents (same layer
 * blobs, new manifest digests), because OCI-layout readers such as skopeo and umoci look only
 * for OCI media types in a layout; a config holding Docker's `null` members (`"Env": null`) is
 * written without them, as the OCI config schema requires (a new config digest then).
 */
export type ManifestPolicy = 'keep' | 'oci';

function metaDescriptor(data: Uint8Array, mediaType: string): Descriptor {
  return { mediaType, digest: digestOf(data), size: data.byteLength };
}

/**
 * Manifest, config and layers of an image. The source's manifest is the truth: the config bytes
 * must hash to its config descriptor and every layer must report the digest and size its
 * descriptor says, or nothing is written. With policy `oci` the manifest is then converted, and
 * the config loses Docker's nulls unless `keepConfig` (a docker archive: `docker load` names the
 * image by its config digest, which must not change on the way).
 */
export async function imageParts(
  image: Image,
  policy: ManifestPolicy = 'keep',
  keepConfig = false,
): Promise<ImageParts> {
  const raw = await image.rawManifest();
  const manifest: ImageManifest = await image.manifest();
  const original = metaDescriptor(raw, await image.mediaType());
  const rawConfig = await image.rawConfig();
  const configDigest = digestOf(rawConfig);
  if (configDigest !== manifest.config.digest || rawConfig.byteLength !== manifest.config.size) {
    throw inconsistent(
      `config hashes to ${configDigest} (${rawConfig.byteLength} bytes), the manifest says ${manifest.config.digest} (${manifest.config.size} bytes)`,
    );
  }
  const layers = await image.layers();
  if (layers.length !== manifest.layers.length) {
    throw inconsistent(`${layers.length} layers, but the manifest lists ${manifest.layers.length}`);
  }
  for (const [i, layer] of layers.entries()) {
    const d = manifest.layers[i]!;
    const [digest, size] = [await layer.digest(), await layer.size()];
    if (digest !== d.digest || size !== d.size) {
      throw inconsistent(
        `layer ${i} is ${digest} (${size} bytes), the manifest says ${d.digest} (${d.size} bytes)`,
      );
    }
  }
  let written = manifest;
  let data = raw;
  let descriptor = original;
  let configData = rawConfig;
  let parsedConfig = parseImageConfig(rawConfig);
  if (policy === 'oci' && original.mediaType === MediaType.DockerManifest) {
    written = toOciManifest(manifest);
  }
  const ociConfig = written.config.mediaType === MediaType.OciConfig;
  if (policy === 'oci' && !keepConfig && ociConfig && hasNullFields(parsedConfig)) {
    parsedConfig = withoutNullFields(parsedConfig);
    configData = serializeConfig(parsedConfig);
    written = { ...written, config: metaDescriptor(configData, MediaType.OciConfig) };
  }
  if (written !== manifest) {
    data = Buffer.from(JSON.stringify(written));
    descriptor = metaDescriptor(data, MediaType.OciManifest);
  }
  return {
    original,
    descriptor,
    manifest: { kind: 'manifest', descriptor, data },
    config: { kind: 'config', descriptor: written.config, data: configData },
    parsedConfig,
    layers: layers.map((layer, i) => ({ kind: 'layer', descriptor: written.layers[i]!, layer })),
  };
}

/** The platform an image config declares, for index.json descriptors. */
export function platformOf(config: ImageConfig): Platform {
  const p: Platform = { architecture: config.architecture, os: config.os };
  if (config.variant) p.variant = config.variant;
  if (config['os.version']) p['os.version'] = config['os.version'];
  return p;
}

/** The blobs of an image or index, each once, parents before children. */
export interface BlobPlan {
  /** Descriptor of the root manifest or index as written. */
  descriptor: Descriptor;
  blobs: BlobToWrite[];
}

export async function planBlobs(
  root: Image | ImageIndex,
  policy: ManifestPolicy = 'keep',
): Promise<BlobPlan> {
  const blobs: BlobToWrite[] = [];
  const seen = new Set<string>();
  const add = (b: BlobToWrite, at = blobs.length) => {
    if (seen.has(b.descriptor.digest)) return;
    seen.add(b.descriptor.digest);
    blobs.splice(at, 0, b);
  };
  /** Returns the source's descriptor (to check against the parent) and the written one. */
  const visit = async (
    node: Image | ImageIndex,
    depth: number,
  ): Promise<{ original: Descriptor; written: Descriptor }> => {
    if (depth > 8) throw inconsistent('indexes nested more than 8 deep');
    if (node.kind === 'image') {
      const parts = await imageParts(node, policy);
      for (const b of [parts.manifest, parts.config, ...parts.layers]) add(b);
      return { original: parts.original, written: parts.descriptor };
    }
    const raw = await node.rawManifest();
    const original = metaDescriptor(raw, await node.mediaType());
    const at = blobs.length; // the index goes before its children, once their descriptors are known
    const entries: Descriptor[] = [];
    let changed = false;
    for (const child of await node.children()) {
      const got = await visit(await child.open(), depth + 1);
      if (got.original.digest !== child.descriptor.digest) {
        throw inconsistent(`index entry ${child.descriptor.digest} opened as ${got.original.digest}`);
      }
      changed ||= got.written.digest !== got.original.digest;
      entries.push(got.written);
    }
    let data = raw;
    let written = original;
    if (policy === 'oci' && (changed || original.mediaType === MediaType.DockerManifestList)) {
      const index = toOciIndex(await node.manifest());
      index.manifests = index.manifests.map((d, i) => ({
        ...d,
        mediaType: entries[i]!.mediaType,
        digest: entries[i]!.digest,
        size: entries[i]!.size,
      }));
      data = Buffer.from(JSON.stringify(index));
      written = metaDescriptor(data, MediaType.OciIndex);
    }
    add({ kind: 'index', descriptor: written, data }, at);
    return { original, written };
  };
  const { written } = await visit(root, 0);
  return { descriptor: written, blobs };
}

/**
 * A layer's blob, verified against its manifest descriptor: by the Layer itself when it says it
 * verifies (its digest and size were checked against the descriptor in {@link imageParts}), else here.
 */
export async function layerStream(blob: LayerBlob, options: StreamOptions = {}): Promise<Readable> {
  const d = blob.descriptor;
  const source = await blob.layer.compressed(options);
  return verifiesItself(blob.layer) ? source : verified(source, d.digest, `layer ${d.digest}`, d.size);
}
