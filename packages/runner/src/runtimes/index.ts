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

export { dockerRunArgs, loadIntoDocker } from './docker.js';
