import type { ImageConfig } from '@pd/oci-types';

/**
 * Whether a config (any JSON value) holds a `null` anywhere, as Docker writes empty lists and maps
 * (`"Env": null`, `"Cmd": null`, `"Volumes": null`...). The OCI config schema wants arrays and
 * objects there, or the key absent.
 */
export function hasNullFields(value: unknown): boolean {
  if (value === null) return true;
  if (typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some((v) => v !== null && hasNullFields(v));
  return Object.values(value as Record<string, unknown>).some(hasNullFields);
}

function stripped(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripped);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = stripped(v);
  return out;
}

/**
 * The config with every `null` member dropped (an absent key means what Docker's null means: none),
 * key order kept, as an OCI config must be written. A new object; `config` is not changed.
 */
export function withoutNullFields(config: ImageConfig): ImageConfig {
  return stripped(config) as ImageConfig;
}
