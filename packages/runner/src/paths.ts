import { homedir } from 'node:os';
import { join } from 'node:path';

/** pd's cache directory: `$PD_CACHE_DIR`, else `$XDG_CACHE_HOME/pd`, else `~/.cache/pd`. */
export function defaultCacheDir(): string {
  const env = process.env;
  if (env.PD_CACHE_DIR) return env.PD_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'pd');
  return join(homedir(), '.cache', 'pd');
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Where OCI runtimes keep container state (`--root`): a tmpfs that is emptied at boot, so state
 * of containers that died with the machine never lingers. Rootless: the user's runtime dir.
 */
export function runtimeStateDir(runtime: string): string {
  if (isRoot) return `/run/pd/${runtime}`;
  const base = process.env.XDG_RUNTIME_DIR || join('/tmp', `pd-${process.getuid?.() ?? 'user'}`);
  return join(base, 'pd', runtime);
}
