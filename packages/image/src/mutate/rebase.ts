import type { ContainerConfig, History, ImageConfig } from '@pd/oci-types';
import { ComputedImage, type ImageParts, loadParts } from '../computed.js';
import { NotBasedOnError } from '../errors.js';
import type { Image } from '../model.js';
import { setEnvValue, unsetEnvValue } from './config.js';
import { historyIndexOfLayer } from './history.js';

/** Options of `rebase`: the base to take out and the one to put in. */
export interface RebaseOptions {
  /** The base the image was built on: its layers must be the bottom of the image. */
  oldBase: Image;
  /** The base to put underneath instead. */
  newBase: Image;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function envMap(env: readonly string[] | null | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const eq = e.indexOf('=');
    m.set(eq === -1 ? e : e.slice(0, eq), eq === -1 ? '' : e.slice(eq + 1));
  }
  return m;
}

/**
 * Three-way merge of the container config: what the image inherited unchanged from the old
 * base follows the new base; what the image set, changed or removed itself is kept.
 */
export function mergeContainerConfig(
  old: ContainerConfig,
  image: ContainerConfig,
  next: ContainerConfig,
): ContainerConfig {
  const out: ContainerConfig = { ...image };
  const record = out as Record<string, unknown>;
  const keys = new Set([...Object.keys(old), ...Object.keys(image), ...Object.keys(next)]);
  for (const key of keys) {
    if (key === 'Env' || key === 'Labels' || key === 'ExposedPorts' || key === 'Volumes') continue;
    const o = (old as Record<string, unknown>)[key];
    const i = (image as Record<string, unknown>)[key];
    const n = (next as Record<string, unknown>)[key];
    if (same(o, i)) {
      if (n === undefined) delete record[key];
      else record[key] = structuredClone(n);
    }
  }

  // Env: the new base's list, then the image's own entries on top (in place when the key exists).
  const oldEnv = envMap(old.Env);
  const imageEnv = envMap(image.Env);
  let env = [...(next.Env ?? [])];
  for (const [k] of oldEnv) if (!imageEnv.has(k)) env = unsetEnvValue(env, k);
  for (const [k, v] of imageEnv) if (oldEnv.get(k) !== v) env = setEnvValue(env, k, v);
  if (env.length > 0 || image.Env !== undefined) out.Env = env;

  const labels: Record<string, string> = { ...(next.Labels ?? {}) };
  const oldLabels = old.Labels ?? {};
  const imageLabels = image.Labels ?? {};
  for (const k of Object.keys(oldLabels)) if (!(k in imageLabels)) delete labels[k];
  for (const [k, v] of Object.entries(imageLabels)) if (oldLabels[k] !== v) labels[k] = v;
  if (Object.keys(labels).length > 0) out.Labels = labels;
  else delete out.Labels;

  for (const key of ['ExposedPorts', 'Volumes'] as const) {
    const set: Record<string, Record<string, unknown>> = { ...(next[key] ?? {}) };
    const o = old[key] ?? {};
    const i = image[key] ?? {};
    for (const k of Object.keys(o)) if (!(k in i)) delete set[k];
    for (const k of Object.keys(i)) if (!(k in o)) set[k] = {};
    if (Object.keys(set).length > 0) out[key] = set;
    else delete out[key];
  }
  return out;
}

/**
 * History of the rebased image: the new base's, then the image's entries above the old base
 * (after the entry of the old base's top layer and after as many entries as the old base has,
 * so the old base's trailing ENV/CMD entries go too).
 */
function rebasedHistory(
  old: ImageConfig,
  image: ImageConfig,
  next: ImageConfig,
  oldLayers: number,
): History[] {
  const imageHistory = image.history ?? [];
  let start = (old.history ?? []).length;
  if (oldLayers > 0) start = Math.max(start, historyIndexOfLayer(imageHistory, oldLayers - 1) + 1);
  return [...(next.history ?? []), ...imageHistory.slice(start)];
}

export async function rebaseParts(image: ImageParts, old: ImageParts, next: ImageParts): Promise<ImageParts> {
  if (old.layers.length > image.layers.length) {
    throw new NotBasedOnError(
      `the old base has ${old.layers.length} layers, the image only ${image.layers.length}`,
    );
  }
  for (let i = 0; i < old.layers.length; i++) {
    const [a, b] = [old.layers[i]!, image.layers[i]!];
    // Same blob, or the same tar compressed differently (re-pushed by another tool).
    if ((await a.digest()) === (await b.digest())) continue;
    if ((await a.diffId()) === (await b.diffId())) continue;
    throw new NotBasedOnError(`layer ${i} differs`);
  }
  const top = image.layers.slice(old.layers.length);
  const config: ImageConfig = structuredClone(image.config);
  config.architecture = next.config.architecture;
  config.os = next.config.os;
  for (const k of ['os.version', 'os.features', 'variant'] as const) {
    if (next.config[k] === undefined) delete config[k];
    else (config as unknown as Record<string, unknown>)[k] = structuredClone(next.config[k]);
  }
  config.config = mergeContainerConfig(
    old.config.config ?? {},
    image.config.config ?? {},
    next.config.config ?? {},
  );
  config.rootfs = {
    type: 'layers',
    diff_ids: [...next.config.rootfs.diff_ids, ...image.config.rootfs.diff_ids.slice(old.layers.length)],
  };
  config.history = rebasedHistory(old.config, image.config, next.config, old.layers.length);
  return { layers: [...next.layers, ...top], config, family: image.family, annotations: image.annotations };
}

/**
 * Like `crane rebase`: replace the old base's layers at the bottom of the image by the new
 * base's, keep the layers above, take the platform from the new base and merge the config.
 * The kept layers are the same objects, so a push to the same registry mounts them.
 */
export async function rebase(image: Image, opts: RebaseOptions): Promise<Image> {
  const [i, o, n] = await Promise.all([loadParts(image), loadParts(opts.oldBase), loadParts(opts.newBase)]);
  return new ComputedImage(await rebaseParts(i, o, n));
}
