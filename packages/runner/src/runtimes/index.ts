import type { RuntimeName } from '../options.js';
import { which } from '../tools.js';

export interface RuntimeInfo {
  name: RuntimeName;
  /** Absolute path of the binary on PATH, or undefined. */
  path(): string | undefined;
  available(): boolean;
}

function info(name: RuntimeName): RuntimeInfo {
  return { name, path: () => which(name), available: () => which(name) !== undefined };
}

/** The runtimes `run` can use (`options.runtime`), and whether they are installed. */
export const runtimes: Readonly<Record<RuntimeName, RuntimeInfo>> = {
  runc: info('runc'),
  crun: info('crun'),
  docker: info('docker'),
};

/** Make a Docker engine have `image` (only the layers it lacks are sent); see runtimes/docker.ts. */
export async function loadIntoDocker(
  ...args: Parameters<typeof import('./docker.js').loadIntoDocker>
): ReturnType<typeof import('./docker.js').loadIntoDocker> {
  return (await import('./docker.js')).loadIntoDocker(...args);
}
