import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * pd's cache root, as every package computes it: `$PD_CACHE_DIR`, else `$XDG_CACHE_HOME/pd`, else
 * `~/.cache/pd`. Conda data lives in `<root>/conda/` (repodata, pkgs, layers).
 */
export function pdCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PD_CACHE_DIR) return env.PD_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'pd');
  return join(homedir(), '.cache', 'pd');
}

/**
 * The conda cache, `<pdCacheDir()>/conda` (repodata, pkgs, layers): the default `cacheDir` of
 * {@link solve} and {@link condaLayers}.
 */
export function condaCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(pdCacheDir(env), 'conda');
}
