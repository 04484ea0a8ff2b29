import { RegistryClient } from '@pd/registry';

let shared: RegistryClient | undefined;

/**
 * Where `closeDefaultClient` is announced once a default client exists, so a program that loads
 * this package lazily (a CLI) can close it at exit without importing the package just for that.
 */
export const CLOSE_DEFAULT_CLIENT = Symbol.for('@pd/image/close-default-client');

/**
 * The registry client used when a caller passes none, one per process. Connections, tokens and
 * the per-registry transfer limits are so shared by every image, layer and push.
 */
export function defaultClient(): RegistryClient {
  if (!shared) {
    shared = new RegistryClient();
    (globalThis as Record<symbol, unknown>)[CLOSE_DEFAULT_CLIENT] = closeDefaultClient;
  }
  return shared;
}

/** Close the shared client's connections (a CLI calls it before exiting). */
export async function closeDefaultClient(): Promise<void> {
  const c = shared;
  shared = undefined;
  await c?.close();
}
