import { PdError } from '@pd/oci-types';
import { normalizeRegistry } from '@pd/registry';
import { tryRef } from './shared.js';

// Apart from shared.ts: @pd/registry (and undici behind it) loads only for the commands that take
// a registry argument, not for every command that parses a reference.

/** A registry as users type it after `docker login`: `ghcr.io`, `localhost:5000`, `https://ghcr.io/`. */
export function parseRegistry(input: string): string {
  const registry = normalizeRegistry(input);
  const ref = registry === '' ? undefined : tryRef(`${registry}/x`);
  if (!ref || ref.registry !== registry) {
    throw new PdError(`invalid registry "${input}"`, {
      code: 'INVALID_REGISTRY',
      hint: 'give a registry host with an optional port, e.g. ghcr.io or localhost:5000',
    });
  }
  return registry;
}
