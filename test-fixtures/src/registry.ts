import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp, waitForPort } from './ports.js';
import { missingTools, which } from './tools.js';

export interface TokenAuthConfig {
  realm: string;
  service: string;
  issuer: string;
  /** PEM file holding the certificate(s) whose keys sign the tokens. */
  rootCertBundle: string;
}

export interface RegistryOptions {
  /** Basic auth: users and passwords, written to an htpasswd file (bcrypt, via htpasswd). */
  htpasswd?: Record<string, string>;
  /** Bearer token auth against an issuer (see token-issuer.ts). */
  token?: TokenAuthConfig;
  /** Extra top-level YAML appended to the config (e.g. `compatibility:` or `validation:`). */
  extraConfig?: string;
  /** Serve HTTPS with this certificate and key (PEM files), as a registry on the internet does. */
  tls?: { certificate: string; key: string };
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT`: the registry part of references. */
  host: string;
  /** `http://127.0.0.1:PORT` (`https://` with the `tls` option) */
  url: string;
  port: number;
  /** Storage root of the registry (to count or corrupt blobs in tests). */
  dataDir: string;
  stop(): Promise<void>;
}

export const REGISTRY_BIN = 'docker-registry';

/** Skip reason when the CNCF distribution registry is not installed. */
export function registryMissing(): string | undefined {
  return missingTools(REGISTRY_BIN);
}

/** Start the real CNCF distribution registry (Debian `docker-registry`) on a free loopback port. */
export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const bin = which(REGISTRY_BIN);
  if (!bin) throw new Error(`${REGISTRY_BIN} is not installed (apt-get install docker-registry)`);
  const root = mkdtempSync(join(tmpdir(), 'pd-registry-'));
  const dataDir = join(root, 'data');
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog: {disabled: true}',
    'storage:',
    `  filesystem: {rootdirectory: ${JSON.stringify(dataDir)}}`,
    '  delete: {enabled: true}',
    '  maintenance: {uploadpurging: {enabled: false}}',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (options.tls) {
    const { certificate, key } = options.tls;
    lines.push(
      '  tls:',
      `    certificate: ${JSON.stringify(certificate)}`,
      `    key: ${JSON.stringify(key)}`,
    );
  }
  if (options.htpasswd) {
    const file = join(root, 'htpasswd');
    writeFileSync(file, '');
    for (const [user, password] of Object.entries(options.htpasswd)) {
      execFileSync('htpasswd', ['-Bb', file, user, password], { stdio: 'ignore' });
    }
    lines.push('auth:', '  htpasswd:', '    realm: pd-test', `    path: ${JSON.stringify(file)}`);
  } else if (options.token) {
    const t = options.token;
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${JSON.stringify(t.realm)}`,
      `    service: ${JSON.stringify(t.service)}`,
      `    issuer: ${JSON.stringify(t.issuer)}`,
      `    rootcertbundle: ${JSON.stringify(t.rootCertBundle)}`,
    );
  }
  if (options.extraConfig) lines.push(options.extraConfig);
  const configFile = join(root, 'config.yml');
  writeFileSync(configFile, `${lines.join('\n')}\n`);

  const child: ChildProcess = spawn(bin, ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  try {
    await Promise.race([
      options.tls ? waitForPort(port) : waitForHttp(`${url}/v2/`),
      exited.then(() => {
        throw new Error(`registry exited at start: ${stderr}`);
      }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    port,
    dataDir,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
