import { ComputedImage, editableParts, type ImageParts, loadParts } from '../computed.js';
import { LayerNotFoundError } from '../errors.js';
import type { Image } from '../model.js';
import { historyIndexOfLayer } from './history.js';

/**
 * Which layer: an index (negative counts from the top: -1 is the top layer) or a digest (of
 * the blob or of the tar, i.e. the diffID).
 */
export type LayerSelector = number | string;

export async function layerIndex(parts: ImageParts, which: LayerSelector): Promise<number> {
  const n = parts.layers.length;
  if (typeof which === 'number') {
    const i = which < 0 ? n + which : which;
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new LayerNotFoundError(String(which), n);
    return i;
  }
  const digests = await Promise.all(parts.layers.map((l) => l.digest()));
  let i = digests.indexOf(which as (typeof digests)[number]);
  if (i === -1) i = parts.config.rootfs.diff_ids.indexOf(which as (typeof digests)[number]);
  if (i === -1) throw new LayerNotFoundError(which, n);
  return i;
}

/**
 * Parts without one layer: its diff_id goes, and so does the history entry that made it, so
 * the entries with `empty_layer` (ENV, CMD...) stay aligned with the layers that remain.
 */
export async function removeLayerParts(parts: ImageParts, which: LayerSelector = -1): Promise<ImageParts> {
  const i = await layerIndex(parts, which);
  const out = editableParts(parts);
  out.layers.splice(i, 1);
  out.config.rootfs.diff_ids.splice(i, 1);
  const history = out.config.history;
  if (history) {
    const h = historyIndexOfLayer(history, i);
    if (h !== -1) history.splice(h, 1);
  }
  return out;
}

/** A new image without one layer (default: the top one); the other layers are reused. */
export async function removeLayer(image: Image, which: LayerSelector = -1): Promise<Image> {
  return new ComputedImage(await removeLayerParts(await loadParts(image), which));
}
