import { chmodSync, mkdirSync, statSync } from 'node:fs';
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

/**
 * Create `dir` (and missing parents) for its owner alone (0700), and take group and other access
 * away from one that exists. The layer store and the container bundles hold setuid-root files,
 * device nodes and world-writable directories of images: reachable by other users, they would
 * give them root (a setuid binary) or let them plant files in a lower layer every later
 * container sees. Behind a 0700 directory, nothing below it is reachable by path for others.
 * Synchronous, as the bundle's other small files (see prepareBundle).
 */
export async function privateDir(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}
