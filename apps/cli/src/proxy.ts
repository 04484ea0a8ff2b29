const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];

/** Whether `env` names a forward proxy (HTTP_PROXY / HTTPS_PROXY, either case). */
export function proxyConfigured(env: NodeJS.ProcessEnv): boolean {
  return PROXY_VARS.some((v) => env[v]);
}

/**
 * Honour HTTP_PROXY / HTTPS_PROXY / NO_PROXY for what goes through the global dispatcher (every
 * `fetch`, e.g. conda channels). Registry clients read the same variables themselves (their
 * `proxy` option). Returns whether a proxy is configured.
 */
export async function configureProxy(env: NodeJS.ProcessEnv): Promise<boolean> {
  if (!proxyConfigured(env)) return false;
  // undici is loaded only when a proxy is set: it is a large module for a CLI's start-up.
  const { EnvHttpProxyAgent, setGlobalDispatcher } = await import('undici');
  setGlobalDispatcher(new EnvHttpProxyAgent());
  return true;
}
