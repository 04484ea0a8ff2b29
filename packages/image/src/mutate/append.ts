import type { History } from '@pd/oci-types';
import { ComputedImage, editableParts, type ImageParts, loadParts } from '../computed.js';
import type { Image, Layer } from '../model.js';
import { type CreatedOption, createdTimestamp } from './time.js';

/** A layer with the history entry that describes it. */
export interface Addendum {
  layer: Layer;
  history?: History;
}

/** Options of `appendLayers`. */
export interface AppendOptions {
  /** Fields for the history entry of every appended layer (an addendum's own entry wins). */
  history?: History;
  /** Time of the config and the new history entries (default SOURCE_DATE_EPOCH, else now). */
  created?: CreatedOption;
}

function isAddendum(x: Layer | Addendum): x is Addendum {
  return 'layer' in x && typeof (x as Addendum).layer === 'object';
}

/** Parts with `layers` on top: diff_ids, history (one entry per layer) and `created` follow. */
export async function appendParts(
  parts: ImageParts,
  layers: ReadonlyArray<Layer | Addendum>,
  opts: AppendOptions = {},
): Promise<ImageParts> {
  const out = editableParts(parts);
  const created = createdTimestamp(opts.created);
  const history = out.config.history ?? [];
  for (const item of layers) {
    const add = isAddendum(item) ? item : { layer: item };
    out.layers.push(add.layer);
    out.config.rootfs.diff_ids.push(await add.layer.diffId());
    const entry: History = { created, created_by: 'pd append', ...opts.history, ...add.history };
    delete entry.empty_layer;
    history.push(entry);
  }
  out.config.history = history;
  out.config.created = created;
  return out;
}

/** A new image: `image` with `layers` on top. The image's own layers are reused as they are. */
export async function appendLayers(
  image: Image,
  layers: ReadonlyArray<Layer | Addendum>,
  opts: AppendOptions = {},
): Promise<Image> {
  return new ComputedImage(await appendParts(await loadParts(image), layers, opts));
}
