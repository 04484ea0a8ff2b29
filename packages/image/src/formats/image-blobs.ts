import type { Readable } from 'node:stream';
import {
  type Descriptor,
  digestOf,
  type ImageConfig,
  type ImageManifest,
  type Platform,
  parseImageConfig,
} from '@pd/oci-types';
import { InconsistentImageError } from '../errors.js';
import type { Image, ImageIndex, Layer, StreamOptions } from '../model.js';
import { verified } from './verified-stream.js';

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
  /** Descriptor of the manifest itself. */
  descriptor: Descriptor;
  manifest: MetaBlob;
  config: MetaBlob;
  parsedConfig: ImageConfig;
  layers: LayerBlob[];
}

/**
 * Manifest, config and layers of an image. The manifest is the truth that gets written; the config
 * bytes must hash to its config descriptor and every layer must report the digest and size its
 * descriptor says, or nothing is written.
 */
export async function imageParts(image: Image): Promise<ImageParts> {
  const raw = await image.rawManifest();
  const manifest: ImageManifest = await image.manifest();
  const descriptor: Descriptor = {
    mediaType: await image.mediaType(),
    digest: digestOf(raw),
    size: raw.byteLength,
  };
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
  const layerBlobs: LayerBlob[] = [];
  for (const [i, layer] of layers.entries()) {
    const d = manifest.layers[i]!;
    const [digest, size] = [await layer.digest(), await layer.size()];
    if (digest !== d.digest || size !== d.size) {
      throw inconsistent(
        `layer ${i} is ${digest} (${size} bytes), the manifest says ${d.digest} (${d.size} bytes)`,
      );
    }
    layerBlobs.push({ kind: 'layer', descriptor: d, layer });
  }
  return {
    descriptor,
    manifest: { kind: 'manifest', descriptor, data: raw },
    config: { kind: 'config', descriptor: manifest.config, data: rawConfig },
    parsedConfig: parseImageConfig(rawConfig),
    layers: layerBlobs,
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
  /** Descriptor of the root manifest or index. */
  descriptor: Descriptor;
  blobs: BlobToWrite[];
}

export async function planBlobs(root: Image | ImageIndex): Promise<BlobPlan> {
  const blobs: BlobToWrite[] = [];
  const seen = new Set<string>();
  const add = (b: BlobToWrite) => {
    if (seen.has(b.descriptor.digest)) return;
    seen.add(b.descriptor.digest);
    blobs.push(b);
  };
  const visit = async (node: Image | ImageIndex, depth: number): Promise<Descriptor> => {
    if (depth > 8) throw inconsistent('indexes nested more than 8 deep');
    if (node.kind === 'image') {
      const parts = await imageParts(node);
      for (const b of [parts.manifest, parts.config, ...parts.layers]) add(b);
      return parts.descriptor;
    }
    const raw = await node.rawManifest();
    const descriptor: Descriptor = {
      mediaType: await node.mediaType(),
      digest: digestOf(raw),
      size: raw.byteLength,
    };
    add({ kind: 'index', descriptor, data: raw });
    for (const child of await node.children()) {
      const got = await visit(await child.open(), depth + 1);
      if (got.digest !== child.descriptor.digest) {
        throw inconsistent(`index entry ${child.descriptor.digest} opened as ${got.digest}`);
      }
    }
    return descriptor;
  };
  const descriptor = await visit(root, 0);
  return { descriptor, blobs };
}

/** A layer's blob, verified against its manifest descriptor whatever the Layer implementation does. */
export async function layerStream(blob: LayerBlob, options: StreamOptions = {}): Promise<Readable> {
  const d = blob.descriptor;
  return verified(await blob.layer.compressed(options), d.digest, `layer ${d.digest}`, d.size);
}
