import {
  authEntries,
  type DockerAuthEntry,
  dockerConfigPath,
  helperFor,
  helperServerUrl,
  keyMatches,
  readDockerConfig,
} from './docker-config.js';
import { helperGet } from './helpers.js';

/** Credentials for one registry. Any one of the three forms is enough. */
export interface Credential {
  username?: string | undefined;
  password?: string | undefined;
  /** OAuth2 refresh token ("identity token" in docker's config): exchanged at the token realm. */
  identityToken?: string | undefined;
  /** A ready bearer token sent as is (`registrytoken` in docker's config). */
  registryToken?: string | undefined;
}

/** Explicit credentials: a map keyed by registry (`docker.io`, `ghcr.io`, `127.0.0.1:5000`) or a function. */
export type CredentialsOption =
  | Record<string, Credential>
  | ((registry: string) => Credential | undefined | Promise<Credential | undefined>);

// docker-credential-helpers mark an identity token with this username.
const TOKEN_USERNAME = '<token>';

/**
 * Resolves credentials per registry, in docker's order: explicit options, then docker's
 * config.json (`credHelpers`, `credsStore`, `auths`). Results are cached per registry for the
 * life of the client (helpers are processes); `forget` drops a cached answer after login/logout.
 */
export class CredentialStore {
  private readonly cache = new Map<string, Promise<Credential | undefined>>();

  constructor(
    private readonly options: {
      credentials?: CredentialsOption | undefined;
      /** Directory holding config.json; false disables docker's config entirely. */
      dockerConfig?: string | false | undefined;
    },
  ) {}

  get(registry: string, signal?: AbortSignal): Promise<Credential | undefined> {
    let p = this.cache.get(registry);
    if (!p) {
      p = this.resolve(registry, signal);
      this.cache.set(registry, p);
      p.catch(() => this.cache.delete(registry));
    }
    return p;
  }

  forget(registry: string): void {
    this.cache.delete(registry);
  }

  /** Path of the docker config.json this store reads, or undefined when disabled. */
  get configPath(): string | undefined {
    return this.options.dockerConfig === false ? undefined : dockerConfigPath(this.options.dockerConfig);
  }

  private async resolve(registry: string, signal?: AbortSignal): Promise<Credential | undefined> {
    const explicit = await this.explicit(registry);
    if (explicit) return explicit;
    const path = this.configPath;
    if (!path) return undefined;
    const config = await readDockerConfig(path);
    const helper = helperFor(config, registry);
    if (helper) {
      const got = await helperGet(helper, helperServerUrl(registry), signal);
      if (got) {
        return got.username === TOKEN_USERNAME
          ? { identityToken: got.secret }
          : { username: got.username, password: got.secret };
      }
    }
    for (const [, entry] of authEntries(config, registry)) {
      const c = fromEntry(entry);
      if (c) return c;
    }
    return undefined;
  }

  private async explicit(registry: string): Promise<Credential | undefined> {
    const opt = this.options.credentials;
    if (!opt) return undefined;
    if (typeof opt === 'function') return usable(await opt(registry));
    if (opt[registry]) return usable(opt[registry]);
    for (const [key, c] of Object.entries(opt)) if (keyMatches(key, registry)) return usable(c);
    return undefined;
  }
}

function usable(c: Credential | undefined): Credential | undefined {
  if (!c) return undefined;
  return c.identityToken || c.registryToken || c.username ? c : undefined;
}

function fromEntry(entry: DockerAuthEntry): Credential | undefined {
  let username = typeof entry.username === 'string' ? entry.username : undefined;
  let password = typeof entry.password === 'string' ? entry.password : undefined;
  if (typeof entry.auth === 'string' && entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon !== -1) {
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
  }
  const identityToken =
    typeof entry.identitytoken === 'string' && entry.identitytoken ? entry.identitytoken : undefined;
  const registryToken =
    typeof entry.registrytoken === 'string' && entry.registrytoken ? entry.registrytoken : undefined;
  return usable({
    username: username || undefined,
    password: password || undefined,
    identityToken,
    registryToken,
  });
}
