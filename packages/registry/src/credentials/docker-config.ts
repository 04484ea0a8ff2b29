import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { DOCKER_HUB } from '@pd/oci-types';

/** The parts of `config.json` pd reads; everything else is kept as is when writing. */
export interface DockerConfigFile {
  auths?: Record<string, DockerAuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** One registry's entry in the `auths` of docker's `config.json`. */
export interface DockerAuthEntry {
  /** base64 of `user:password`. */
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
  [key: string]: unknown;
}

/** The key docker uses for Docker Hub in `auths` and with credential helpers. */
export const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';
const HUB_ALIASES = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

/** Directory of config.json: explicit, else `$DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigDir(explicit?: string): string {
  return explicit ?? process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
}

/** Path of docker's `config.json`: in `dir`, else `$DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigPath(dir?: string): string {
  return join(dockerConfigDir(dir), 'config.json');
}

/** Read config.json; a missing file is an empty config. Malformed JSON is an error naming the file. */
export async function readDockerConfig(path: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  if (text.trim() === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    return parsed as DockerConfigFile;
  } catch (e) {
    throw new Error(`cannot parse docker config ${path}: ${(e as Error).message}`);
  }
}

/**
 * Write config.json atomically (temp file in the same directory, then rename) with mode 0600,
 * so a crash never leaves a truncated file and other users cannot read the credentials.
 */
export async function writeDockerConfig(path: string, config: DockerConfigFile): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(
    dir,
    `.config.json.${process.pid}.${process.getBuiltinModule('node:crypto').randomBytes(6).toString('hex')}.tmp`,
  );
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(config, null, '\t')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** The host part of an `auths` / `credHelpers` key: `https://host:5000/v1/` → `host:5000`. */
export function keyHostname(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash !== -1) k = k.slice(0, slash);
  return k.toLowerCase();
}

/** Whether a config key names this registry (Docker Hub answers to all its historical names). */
export function keyMatches(key: string, registry: string): boolean {
  const host = keyHostname(key);
  if (registry === DOCKER_HUB) return HUB_ALIASES.has(host);
  return host === registry.toLowerCase();
}

/** The key pd writes for a registry: docker's own choice, so docker reads it back. */
export function configKey(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_CONFIG_KEY : registry;
}

/** The server URL handed to credential helpers (the same string docker passes). */
export function helperServerUrl(registry: string): string {
  return configKey(registry);
}

/** The credential helper configured for this registry, per-registry `credHelpers` first, then `credsStore`. */
export function helperFor(config: DockerConfigFile, registry: string): string | undefined {
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (typeof helper === 'string' && helper && keyMatches(key, registry)) return helper;
  }
  return typeof config.credsStore === 'string' && config.credsStore ? config.credsStore : undefined;
}

/** The `auths` entries for a registry: the exact key first, then any alias. */
export function authEntries(config: DockerConfigFile, registry: string): Array<[string, DockerAuthEntry]> {
  const entries = Object.entries(config.auths ?? {}).filter(
    (e): e is [string, DockerAuthEntry] =>
      typeof e[1] === 'object' && e[1] !== null && keyMatches(e[0], registry),
  );
  const exact = configKey(registry);
  return entries.sort((a, b) => Number(b[0] === exact) - Number(a[0] === exact));
}
