import { RegistryClient } from '@pd/registry';

let shared: RegistryClient | undefined;

/**
 * The client used when a caller passes none: one per process, so connections, tokens and the
 * per-registry transfer limits are shared by every image, layer and push.
 */
export function defaultClient(): RegistryClient {
  shared ??= new RegistryClient();
  return shared;
}

/** Close the shared client's connections (a CLI calls it before exiting). */
export async function closeDefaultClient(): Promise<void> {
  const c = shared;
  shared = undefined;
  await c?.close();
}
