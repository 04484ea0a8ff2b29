import type { History } from '@pd/oci-types';

/**
 * Index in `history` of the entry that made layer `layerIndex`: entries with `empty_layer`
 * made no layer, so the Nth layer belongs to the Nth entry without it. -1 when the history is
 * too short to say (images built without history).
 */
export function historyIndexOfLayer(history: readonly History[], layerIndex: number): number {
  let seen = -1;
  for (let i = 0; i < history.length; i++) {
    if (history[i]?.empty_layer === true) continue;
    seen++;
    if (seen === layerIndex) return i;
  }
  return -1;
}
