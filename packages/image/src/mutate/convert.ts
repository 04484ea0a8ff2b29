import { type Compression, isDistributableLayer, layerCompression } from '@pd/oci-types';
import { ComputedImage, type Family, loadParts } from '../computed.js';
import { RecompressedLayer, type RecompressOptions } from '../layers/recompressed.js';
import type { Image, ImageIndex, Layer } from '../model.js';
import { mapIndexImages } from './index-map.js';

/**
 * The image with manifest, config and layer media types of the other family (OCI ↔ Docker
 * schema 2). Layers are untouched (same blobs); only the manifest changes, and the config when
 * an OCI config would otherwise carry Docker's `null` members. An image already in `family` is
 * returned as it is.
 */
export async function convertMediaTypes(image: Image, family: Family): Promise<Image> {
  const parts = await loadParts(image);
  if (parts.family === family) return image;
  return new ComputedImage({
    ...parts,
    family,
    annotations: family === 'docker' ? undefined : parts.annotations,
  });
}

/**
 * Options of `recodeLayers`, `compressLayers`, `withoutZstdLayers` and
 * `compressAll`: where re-encoded blobs go, and the signal and progress of each encoding.
 */
export interface RecodeOptions extends Omit<RecompressOptions, 'family'> {}

/**
 * The image with every layer whose blob is compressed as one of `from` re-encoded as `to`; other
 * layers (and the config, so the diffIDs) are untouched. Returns `image` itself when no layer
 * changes, so its digest is kept. Nothing is read here: a changed layer is encoded when a sink
 * first asks for its digest (see {@link RecompressedLayer}). A Docker image given zstd layers
 * becomes an OCI image (Docker schema 2 has no zstd layer type). The result is written by pd, so
 * an OCI config loses Docker's `null` members (see {@link ComputedImage}).
 */
export async function recodeLayers(
  image: Image,
  from: readonly Compression[],
  to: Compression,
  opts: RecodeOptions = {},
): Promise<Image> {
  // Non-distributable (foreign) layers are not ours to re-encode: they keep their URLs' blobs.
  const recode = async (layer: Layer) => {
    const mt = await layer.mediaType();
    const found = layerCompression(mt);
    return found !== undefined && found !== to && from.includes(found) && isDistributableLayer(mt);
  };
  // Layer media types first: an image with nothing to recode is not even parsed.
  const marks = await Promise.all((await image.layers()).map(recode));
  if (!marks.includes(true)) return image;
  const parts = await loadParts(image);
  const layers = await Promise.all(
    parts.layers.map(async (layer) =>
      (await recode(layer)) ? new RecompressedLayer(layer, to, opts) : layer,
    ),
  );
  return new ComputedImage({ ...parts, layers });
}

/**
 * The image with its uncompressed layers (what `docker save` writes) compressed as `compression`,
 * as a push does by default. Layers already compressed pass through untouched, so a registry that
 * has them still skips or mounts them. `none` returns the image as it is.
 */
export function compressLayers(
  image: Image,
  compression: Compression,
  opts: RecodeOptions = {},
): Promise<Image> {
  return recodeLayers(image, ['none'], compression, opts);
}

/**
 * The image with its zstd layers made gzip, for readers that know no zstd (`docker load` before
 * 23, Docker schema 2); gzip and uncompressed layers pass through.
 */
export function withoutZstdLayers(image: Image, opts: RecodeOptions = {}): Promise<Image> {
  return recodeLayers(image, ['zstd'], 'gzip', opts);
}

/** `compressLayers` for an image or every image of an index. */
export function compressAll(
  x: Image | ImageIndex,
  compression: Compression,
  opts: RecodeOptions = {},
): Promise<Image | ImageIndex> {
  if (compression === 'none') return Promise.resolve(x);
  const fn = (image: Image) => compressLayers(image, compression, opts);
  return x.kind === 'image' ? fn(x) : mapIndexImages(x, fn);
}
