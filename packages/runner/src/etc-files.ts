import { readFileSync } from 'node:fs';

// The three files docker bind-mounts into every container, generated the same way.

/** /etc/hosts of a container with its own network namespace (docker writes no address line without one). */
export const ISOLATED_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
  '',
].join('\n');

const FALLBACK_DNS = 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n';

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/**
 * The host's resolv.conf. With the host network it is used as it is; otherwise loopback
 * nameservers (which would point into the container's own, empty, network) are dropped and
 * docker's public fallback is used when none remain. A host on systemd-resolved's stub
 * (127.0.0.53) is read through the real upstream list, as docker does.
 */
export async function resolvConf(network: 'none' | 'host'): Promise<string> {
  const text = await readOr('/etc/resolv.conf', '');
  if (network === 'host') return text;
  const upstream = /^\s*nameserver\s+127\.0\.0\.53\b/m.test(text)
    ? await readOr('/run/systemd/resolve/resolv.conf', text)
    : text;
  return isolatedResolvConf(upstream);
}

/** resolv.conf for a container with its own network namespace, from the host's. */
export function isolatedResolvConf(host: string): string {
  const kept = host
    .split('\n')
    .filter((line) => !/^\s*nameserver\s+(127\.|::1\b|0:0:0:0:0:0:0:1\b)/.test(line));
  let out = kept.join('\n');
  if (!/^\s*nameserver\s/m.test(out)) out = `${out.replace(/\n*$/, out.trim() ? '\n' : '')}${FALLBACK_DNS}`;
  return out;
}

export async function hostsFile(network: 'none' | 'host'): Promise<string> {
  return network === 'host' ? readOr('/etc/hosts', ISOLATED_HOSTS) : ISOLATED_HOSTS;
}
