import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { docker } from '@pd/test-fixtures';
import type { Logger } from '../src/index.js';

const execFileP = promisify(execFile);

export const BUSYBOX = '/usr/bin/busybox';

export interface SeededImage {
  /** `host/repo:tag` */
  ref: string;
  /** Manifest digest reported by `docker push`. */
  digest: string;
}

/**
 * Build an image from local files (`tar | docker import`) and push it with the Docker engine.
 * `files` maps paths to contents; `busybox` adds /bin/busybox.
 */
export async function pushWithDocker(
  host: string,
  repository: string,
  tag: string,
  options: {
    files?: Record<string, string | Buffer>;
    busybox?: boolean;
    login?: { user: string; password: string };
  } = {},
): Promise<SeededImage> {
  const dir = mkdtempSync(join(tmpdir(), 'pd-reg-img-'));
  const cfg = mkdtempSync(join(tmpdir(), 'pd-reg-dockercfg-'));
  const ref = `${host}/${repository}:${tag}`;
  try {
    for (const [path, content] of Object.entries(options.files ?? { '/hello.txt': `hello from ${ref}\n` })) {
      const full = join(dir, path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
    if (options.busybox) {
      mkdirSync(join(dir, 'bin'), { recursive: true });
      copyFileSync(BUSYBOX, join(dir, 'bin/busybox'));
    }
    const tar = execFileSync('tar', ['-C', dir, '--owner=0', '--group=0', '-c', '.'], { maxBuffer: 1 << 30 });
    const env = { ...process.env, DOCKER_CONFIG: cfg };
    await docker(['import', '-', ref], { input: tar, env });
    if (options.login) {
      await docker(['login', '-u', options.login.user, '--password-stdin', host], {
        input: options.login.password,
        env,
      });
    }
    const { stdout } = await docker(['push', ref], { env });
    const m = /digest: (sha256:[a-f0-9]{64})/.exec(stdout);
    if (!m?.[1]) throw new Error(`docker push printed no digest: ${stdout}`);
    await docker(['rmi', ref], { env }).catch(() => undefined);
    return { ref, digest: m[1] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(cfg, { recursive: true, force: true });
  }
}

/** The manifest digest skopeo sees (an independent client). */
export async function skopeoDigest(ref: string, creds?: string): Promise<string> {
  const args = ['inspect', '--tls-verify=false', '--format', '{{.Digest}}'];
  if (creds) args.push('--creds', creds);
  const { stdout } = await execFileP('skopeo', [...args, `docker://${ref}`]);
  return stdout.trim();
}

/** Raw manifest bytes as skopeo fetches them. */
export async function skopeoRawManifest(ref: string): Promise<string> {
  const { stdout } = await execFileP(
    'skopeo',
    ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`],
    {
      maxBuffer: 16 << 20,
    },
  );
  return stdout;
}

export function randomData(size: number): Buffer {
  return randomBytes(size);
}

/** A source that yields `data` in pieces of `piece` bytes (exercises chunk boundaries). */
export function sourceOf(data: Buffer, piece = 64 * 1024): () => Readable {
  return () =>
    Readable.from(
      (function* () {
        for (let i = 0; i < data.length; i += piece) yield data.subarray(i, i + piece);
      })(),
      { objectMode: false },
    );
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A logger that keeps every line, to assert no secret ever reaches a log. */
export function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    logger: { debug: (m) => lines.push(m), warn: (m) => lines.push(m) },
  };
}

/** A temporary directory for docker config files; removed by the returned function. */
export function tempDir(prefix = 'pd-reg-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Write an executable script (a fake credential helper). */
export function writeExecutable(path: string, content: string): void {
  writeFileSync(path, content);
  chmodSync(path, 0o755);
}
