import { stat } from 'node:fs/promises';
import { isAbsolute, normalize } from 'node:path';
import { InvalidOptionError } from './errors.js';
import type { VolumeSpec } from './options.js';

/**
 * Parse docker's short bind form `HOST:CONTAINER[:OPTS]` (OPTS: `ro` or `rw`, comma-separated).
 * Named volumes (a HOST that is not a path) are not supported: pd has no volume store.
 */
export function parseVolume(value: string): VolumeSpec {
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3)
    throw new InvalidOptionError('-v', `"${value}" is not HOST:CONTAINER[:ro|rw]`);
  const [source, target, opts] = parts as [string, string, string | undefined];
  if (!isAbsolute(source)) {
    throw new InvalidOptionError(
      '-v',
      `"${source}" is not an absolute host path`,
      'named volumes are not supported; give an absolute directory or file',
    );
  }
  let readOnly = false;
  for (const o of (opts ?? '').split(',').filter((x) => x !== '')) {
    if (o === 'ro') readOnly = true;
    else if (o === 'rw') readOnly = false;
    else throw new InvalidOptionError('-v', `unsupported option "${o}" in "${value}"`, 'pd knows ro and rw');
  }
  return { source, target, readOnly };
}

/** Normalise and check a volume: absolute paths, the host side exists, never over the container's `/`. */
export async function checkVolume(v: VolumeSpec): Promise<VolumeSpec> {
  if (!isAbsolute(v.source)) throw new InvalidOptionError('-v', `"${v.source}" is not an absolute host path`);
  if (!isAbsolute(v.target))
    throw new InvalidOptionError('-v', `"${v.target}" is not an absolute container path`);
  const target = normalize(v.target).replace(/\/+$/, '');
  if (target === '') throw new InvalidOptionError('-v', 'cannot mount over the container root');
  try {
    await stat(v.source);
  } catch {
    throw new InvalidOptionError(
      '-v',
      `host path "${v.source}" does not exist`,
      'create it first (pd does not create host directories)',
    );
  }
  return { source: normalize(v.source), target, readOnly: v.readOnly === true };
}
