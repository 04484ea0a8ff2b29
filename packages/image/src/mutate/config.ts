import { type ContainerConfig, type History, type ImageConfig, validateImageConfig } from '@pd/oci-types';
import { ComputedImage, editableParts, type ImageParts, loadParts } from '../computed.js';
import { InvalidMutationError } from '../errors.js';
import type { Image } from '../model.js';
import { type CreatedOption, createdTimestamp } from './time.js';

/** A set of keys to add (true) or remove (false); an array adds. */
export type KeySet = readonly string[] | Record<string, boolean>;

/**
 * Edits of the container config. `undefined` leaves a field alone; `null` clears it.
 * Env and labels merge: a value sets the key (in place when it exists, so the order of the
 * other entries is kept; appended otherwise), `null` unsets it.
 */
export interface ConfigEdits {
  env?: Record<string, string | null> | readonly string[];
  /** Keys to remove from Env. */
  unsetEnv?: readonly string[];
  cmd?: readonly string[] | null;
  entrypoint?: readonly string[] | null;
  workingDir?: string | null;
  user?: string | null;
  labels?: Record<string, string | null>;
  /** `8080/tcp`, `53/udp`; a bare port means tcp. */
  exposedPorts?: KeySet;
  volumes?: KeySet;
  stopSignal?: string | null;
  author?: string | null;
  /** Set the config's `created` time. */
  created?: CreatedOption;
  /** Record the edit in the history as an entry with `empty_layer` (its `created_by`). */
  history?: string | History;
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

/** Env with `key` set to `value`: replaced where it is (order kept), else appended. */
export function setEnvValue(env: readonly string[], key: string, value: string): string[] {
  if (key === '' || key.includes('=')) {
    throw new InvalidMutationError(
      `invalid environment variable name "${key}"`,
      'a name is non-empty and has no "="',
    );
  }
  const out: string[] = [];
  let done = false;
  for (const e of env) {
    if (envKey(e) === key) {
      if (!done) out.push(`${key}=${value}`);
      done = true;
    } else out.push(e);
  }
  if (!done) out.push(`${key}=${value}`);
  return out;
}

/** Env without any entry for `key` (other entries in their order). */
export function unsetEnvValue(env: readonly string[], key: string): string[] {
  return env.filter((e) => envKey(e) !== key);
}

function envEntries(env: Record<string, string | null> | readonly string[]): Array<[string, string | null]> {
  if (Array.isArray(env)) {
    return (env as readonly string[]).map((e): [string, string] => {
      const eq = e.indexOf('=');
      if (eq <= 0) throw new InvalidMutationError(`invalid environment entry "${e}"`, 'write NAME=value');
      return [e.slice(0, eq), e.slice(eq + 1)];
    });
  }
  return Object.entries(env as Record<string, string | null>);
}

function normalizePort(p: string): string {
  const port = p.includes('/') ? p : `${p}/tcp`;
  if (!/^[1-9][0-9]{0,4}\/(tcp|udp|sctp)$/.test(port) || Number(port.split('/')[0]) > 65535) {
    throw new InvalidMutationError(`invalid port "${p}"`, 'write 8080, 8080/tcp, 53/udp or 9/sctp');
  }
  return port;
}

function applyKeySet(
  current: Record<string, Record<string, unknown>> | null | undefined,
  edit: KeySet,
  normalize: (k: string) => string,
): Record<string, Record<string, unknown>> | undefined {
  const out: Record<string, Record<string, unknown>> = { ...(current ?? {}) };
  const entries: Array<[string, boolean]> = Array.isArray(edit)
    ? (edit as readonly string[]).map((k) => [k, true])
    : Object.entries(edit as Record<string, boolean>);
  for (const [k, on] of entries) {
    const key = normalize(k);
    if (on) out[key] ??= {};
    else delete out[key];
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function setOrClear<K extends keyof ContainerConfig>(
  c: ContainerConfig,
  key: K,
  v: ContainerConfig[K] | null,
): void {
  if (v === null) delete c[key];
  else c[key] = v;
}

/** Apply edits to a config in place. */
export function applyConfigEdits(config: ImageConfig, edits: ConfigEdits): void {
  const c: ContainerConfig = config.config ?? {};
  if (edits.env !== undefined || edits.unsetEnv !== undefined) {
    let env = [...(c.Env ?? [])];
    for (const [k, v] of envEntries(edits.env ?? []))
      env = v === null ? unsetEnvValue(env, k) : setEnvValue(env, k, v);
    for (const k of edits.unsetEnv ?? []) env = unsetEnvValue(env, k);
    c.Env = env;
  }
  if (edits.cmd !== undefined) setOrClear(c, 'Cmd', edits.cmd === null ? null : [...edits.cmd]);
  if (edits.entrypoint !== undefined)
    setOrClear(c, 'Entrypoint', edits.entrypoint === null ? null : [...edits.entrypoint]);
  if (edits.workingDir !== undefined) setOrClear(c, 'WorkingDir', edits.workingDir);
  if (edits.user !== undefined) setOrClear(c, 'User', edits.user);
  if (edits.stopSignal !== undefined) setOrClear(c, 'StopSignal', edits.stopSignal);
  if (edits.labels !== undefined) {
    const labels: Record<string, string> = { ...(c.Labels ?? {}) };
    for (const [k, v] of Object.entries(edits.labels)) {
      if (v === null) delete labels[k];
      else labels[k] = v;
    }
    setOrClear(c, 'Labels', Object.keys(labels).length > 0 ? labels : null);
  }
  if (edits.exposedPorts !== undefined) {
    setOrClear(c, 'ExposedPorts', applyKeySet(c.ExposedPorts, edits.exposedPorts, normalizePort) ?? null);
  }
  if (edits.volumes !== undefined) {
    setOrClear(
      c,
      'Volumes',
      applyKeySet(c.Volumes, edits.volumes, (v) => {
        if (!v.startsWith('/'))
          throw new InvalidMutationError(`invalid volume "${v}"`, 'volumes are absolute paths');
        return v;
      }) ?? null,
    );
  }
  config.config = c;
  if (edits.author !== undefined) {
    if (edits.author === null) delete config.author;
    else config.author = edits.author;
  }
  const created =
    edits.created !== undefined || edits.history !== undefined ? createdTimestamp(edits.created) : undefined;
  if (edits.created !== undefined && created) config.created = created;
  if (edits.history !== undefined) {
    const h: History =
      typeof edits.history === 'string' ? { created_by: edits.history } : { ...edits.history };
    config.history = [...(config.history ?? []), { created, ...h, empty_layer: true }];
  }
}

export function editConfigParts(parts: ImageParts, edits: ConfigEdits): ImageParts {
  const out = editableParts(parts);
  applyConfigEdits(out.config, edits);
  validateImageConfig(out.config);
  return out;
}

/** A new image with an edited config; layers are reused. */
export async function editConfig(image: Image, edits: ConfigEdits): Promise<Image> {
  return new ComputedImage(editConfigParts(await loadParts(image), edits));
}

/**
 * The function `mapConfig` and `EditableImage.updateConfig` call: it edits a copy of the config in
 * place, or returns a new one. `rootfs.diff_ids` must not change (they follow the layers).
 */
// biome-ignore lint/suspicious/noConfusingVoidType: lets an arrow that edits in place and returns nothing fit
export type ConfigMapper = (config: ImageConfig) => ImageConfig | undefined | void;

export function mapConfigParts(parts: ImageParts, fn: ConfigMapper): ImageParts {
  const out = editableParts(parts);
  const before = [...out.config.rootfs.diff_ids];
  const result = fn(out.config) ?? out.config;
  const config = validateImageConfig(result);
  const after = config.rootfs.diff_ids;
  if (after.length !== before.length || after.some((d, i) => d !== before[i])) {
    throw new InvalidMutationError(
      'a config edit changed rootfs.diff_ids',
      'diff_ids follow the layers: add or remove layers with appendLayers / removeLayer instead',
    );
  }
  return { ...out, config };
}

/** A new image whose config is what `fn` makes of a copy of it. */
export async function mapConfig(image: Image, fn: ConfigMapper): Promise<Image> {
  return new ComputedImage(mapConfigParts(await loadParts(image), fn));
}
