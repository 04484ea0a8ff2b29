import { ComputedImage, type Family, loadParts } from '../computed.js';
import type { Image } from '../model.js';

/**
 * The image with manifest, config and layer media types of the other family (OCI ↔ Docker
 * schema 2). Layers and config bytes are untouched (same blobs, same config digest); only the
 * manifest changes. An image already in `family` is returned as it is.
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
