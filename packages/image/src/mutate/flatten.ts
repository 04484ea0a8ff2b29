import type { History } from '@pd/oci-types';
import { ComputedImage, editableParts, loadParts } from '../computed.js';
import { buildLayer, type LayerBuildOptions } from '../layers/built.js';
import { layerSources } from '../layers/sources.js';
import { tar as loadTar } from '../lazy-tar.js';
import type { Image, Layer } from '../model.js';
import { type CreatedOption, createdTimestamp } from './time.js';

/** Options of `flatten`: how the one layer is built, and its history entry. */
export interface FlattenOptions extends LayerBuildOptions {
  /** Time of the config and the history entry (default SOURCE_DATE_EPOCH, else now). */
  created?: CreatedOption;
  /** Fields of the single history entry. */
  history?: History;
}

/**
 * A new image of one layer holding the merged filesystem (whiteouts applied, nothing hidden
 * kept). Layers are read one at a time, top first (a registry's fetched into the cache side by
 * side first: layerSources); the result is built once into the cache. The container config is
 * kept; the history becomes one entry.
 */
export async function flatten(image: Image, opts: FlattenOptions = {}): Promise<Image> {
  const parts = editableParts(await loadParts(image));
  const { sources, close } = layerSources(parts.layers, { signal: opts.signal });
  let layer: Layer;
  try {
    const tar = (await loadTar()).flattenLayers(sources, opts.signal ? { signal: opts.signal } : {});
    layer = await buildLayer(tar, opts, 'flatten');
  } finally {
    close();
  }
  const created = createdTimestamp(opts.created);
  parts.layers = [layer];
  parts.config.rootfs.diff_ids = [await layer.diffId()];
  parts.config.history = [
    { created, created_by: 'pd flatten', comment: `flattened ${sources.length} layer(s)`, ...opts.history },
  ];
  parts.config.created = created;
  return new ComputedImage(parts);
}
