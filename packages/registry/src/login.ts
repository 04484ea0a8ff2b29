import { DOCKER_HUB } from '@pd/oci-types';
import { UnsupportedAuthSchemeError } from './auth/challenge.js';
import type { Authenticator } from './auth/session.js';
import { fetchToken } from './auth/token.js';
import {
  authEntries,
  configKey,
  type DockerConfigFile,
  helperFor,
  helperServerUrl,
  keyHostname,
  keyMatches,
  readDockerConfig,
  writeDockerConfig,
} from './credentials/docker-config.js';
import { helperErase, helperStore } from './credentials/helpers.js';
import type { Endpoints } from './endpoint.js';
import { connectionError, credentialsRejected, isAbortError, RegistryError } from './errors.js';
import type { HttpTransport, Logger } from './transport/http.js';
import { discard } from './transport/http.js';
import type { RetryPolicy } from './transport/retry.js';
import type { CallOptions } from './types.js';

export interface LoginContext {
  http: HttpTransport;
  endpoints: Endpoints;
  auth: Authenticator;
  policy: RetryPolicy;
  logger: Logger | undefined;
  /** config.json to write, or undefined when the client was told not to use docker's config. */
  configPath: string | undefined;
}

/** What `login` did: where it stored the credentials, and in which form. */
export interface LoginResult {
  /** The registry, normalized as by {@link normalizeRegistry}. */
  registry: string;
  /** Where the credentials went: `docker-credential-<helper>`, or the path of `config.json`. */
  storedIn: string;
  /** The registry issued a refresh token, stored instead of the password. */
  identityToken: boolean;
}

/**
 * The registry named by what users type after `docker login`: `https://ghcr.io/` → `ghcr.io`,
 * `index.docker.io` → `docker.io`. The host is lowercased, scheme and path dropped; every name of
 * Docker Hub gives `docker.io`.
 */
export function normalizeRegistry(input: string): string {
  const host = keyHostname(input);
  if (keyMatches(host, DOCKER_HUB)) return DOCKER_HUB;
  return host;
}

/**
 * Check credentials against the registry, then store them the way docker does: through the
 * configured credential helper, else base64 in config.json (written atomically, mode 0600,
 * other fields kept). A refresh token from the token server is stored instead of the password.
 */
export async function login(
  ctx: LoginContext,
  registryInput: string,
  username: string,
  password: string,
  opts: CallOptions = {},
): Promise<LoginResult> {
  const registry = normalizeRegistry(registryInput);
  const path = ctx.configPath;
  if (!path) {
    throw new RegistryError(`cannot store credentials for ${registry}: docker config is disabled`, {
      registry,
      hint: 'create the client without dockerConfig: false to log in',
    });
  }
  ctx.endpoints.forget(registry);
  const ep = await ctx.endpoints.resolve(registry, opts.signal);
  if (ep.status === 401 && !ep.challenge && ep.challenges.length > 0) {
    throw new UnsupportedAuthSchemeError(`login to ${registry}`, registry, ep.challenges);
  }
  let identityToken: string | undefined;
  const v2 = new URL('/v2/', ep.origin);
  let authorization: string | undefined;
  if (ep.challenge?.scheme === 'bearer') {
    const realm = ep.challenge.params.realm;
    if (!realm) throw new RegistryError(`${registry} asked for a token without naming a realm`, { registry });
    const t = await fetchToken(
      ctx.http,
      {
        registry,
        realm,
        service: ep.challenge.params.service,
        scopes: [],
        username,
        password,
        offline: true,
        allowHttp: ctx.endpoints.allowsHttp(registry),
        signal: opts.signal,
      },
      ctx.policy,
      ctx.logger,
    );
    identityToken = t.refreshToken;
    authorization = `Bearer ${t.token}`;
  } else if (ep.challenge?.scheme === 'basic') {
    authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
  if (authorization) {
    let status: number;
    try {
      const res = await ctx.http.request({
        url: v2,
        method: 'GET',
        headers: { authorization },
        signal: opts.signal,
        insecureTls: ep.insecureTls,
      });
      status = res.status;
      await discard(res.body);
    } catch (e) {
      if (isAbortError(e)) throw e;
      throw connectionError(e, v2.host, registry);
    }
    if (status === 401 || status === 403) throw credentialsRejected('login', registry, username, { status });
    if (status !== 200) {
      throw new RegistryError(`login to ${registry}: /v2/ answered HTTP ${status}`, { registry, status });
    }
  } else {
    ctx.logger?.warn?.(`${registry} accepts anonymous requests; storing the credentials anyway`);
  }

  const config = await readDockerConfig(path);
  const helper = helperFor(config, registry);
  const key = configKey(registry);
  let storedIn = path;
  if (helper) {
    await helperStore(
      helper,
      helperServerUrl(registry),
      identityToken ? { username: '<token>', secret: identityToken } : { username, secret: password },
      opts.signal,
    );
    storedIn = `docker-credential-${helper}`;
    // docker leaves an empty marker entry for registries kept in the default credsStore.
    if (config.credsStore === helper) {
      config.auths = { ...config.auths, [key]: {} };
      await writeDockerConfig(path, config);
    }
  } else {
    const entry = identityToken
      ? { auth: Buffer.from(`${username}:`).toString('base64'), identitytoken: identityToken }
      : { auth: Buffer.from(`${username}:${password}`).toString('base64') };
    config.auths = { ...config.auths, [key]: entry };
    await writeDockerConfig(path, config);
  }
  ctx.auth.reset(registry);
  return { registry, storedIn, identityToken: identityToken !== undefined };
}

/** Remove stored credentials (helper `erase` and every config.json entry naming the registry). */
export async function logout(
  ctx: LoginContext,
  registryInput: string,
  opts: CallOptions = {},
): Promise<boolean> {
  const registry = normalizeRegistry(registryInput);
  const path = ctx.configPath;
  if (!path) return false;
  const config: DockerConfigFile = await readDockerConfig(path);
  let removed = false;
  const helper = helperFor(config, registry);
  if (helper) removed = await helperErase(helper, helperServerUrl(registry), opts.signal);
  const keys = authEntries(config, registry).map(([k]) => k);
  if (keys.length > 0 && config.auths) {
    const auths = { ...config.auths };
    for (const k of keys) delete auths[k];
    config.auths = auths;
    await writeDockerConfig(path, config);
    removed = true;
  }
  ctx.auth.reset(registry);
  return removed;
}
