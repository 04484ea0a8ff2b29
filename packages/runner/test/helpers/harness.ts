import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Image } from '@pd/image';
import {
  busyboxMissing,
  dockerHost,
  dockerMissing,
  type Fixtures,
  fixtureImages,
  gnuTarMissing,
  type RunningRegistry,
  registryMissing,
  runcMissing,
  skopeoMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { type RunnerEvent, type RunOptions, run } from '../../src/index.js';
import { removeScripts } from './child.js';
import { removeSavedArchives } from './saved-image.js';

/** Why the runtime tests cannot run here (a tool is missing, or not root), else undefined. */
export function runtimeSkip(): string | undefined {
  return runcMissing() ?? busyboxMissing() ?? gnuTarMissing();
}

/** Why the docker comparison tests cannot run here, else undefined. */
export function dockerSkip(): string | undefined {
  return runtimeSkip() ?? dockerMissing() ?? registryMissing() ?? skopeoMissing();
}

/** A fresh pd cache directory, so that unpack counts start from zero. */
export function freshCacheDir(): string {
  return mkdtempSync(join(tmpdir(), 'pd-runner-cache-'));
}

let fixtures: { registry: RunningRegistry; fx: Promise<Fixtures> } | undefined;

/** The ready-made fixture images of @pd/test-fixtures (built by docker, pushed to a real registry). */
export async function sharedFixtures(): Promise<Fixtures> {
  if (!fixtures) {
    const registry = await startRegistry();
    fixtures = { registry, fx: fixtureImages(registry) };
  }
  return fixtures.fx;
}

/** Stop the registry and remove what the helpers wrote (saved archives, bundled scripts). */
export async function stopFixtures(): Promise<void> {
  await fixtures?.registry.stop();
  fixtures = undefined;
  await removeSavedArchives();
  await removeScripts();
}

class Collect extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk);
    cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export interface Captured {
  exitCode: number;
  signal?: string;
  stdout: string;
  stderr: string;
  events: RunnerEvent[];
  id: string;
}

/** pd's run with stdout and stderr captured and the runner's events recorded. */
export async function pdRun(image: Image | string, options: RunOptions): Promise<Captured> {
  const stdout = new Collect();
  const stderr = new Collect();
  const events: RunnerEvent[] = [];
  const r = await run(image, {
    rm: true,
    forwardSignals: false,
    ...options,
    stdout,
    stderr,
    onLog: (e) => {
      events.push(e);
      options.onLog?.(e);
    },
  });
  return { ...r, stdout: stdout.text(), stderr: stderr.text(), events };
}

export interface Exited {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion, whatever its exit status. */
export function exec(
  file: string,
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', reject);
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({
        exitCode,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** `docker run --rm --network none <flags> <image> <args>` against the test engine (`--network` in flags wins). */
export function dockerRun(
  image: string,
  args: string[],
  flags: string[] = [],
  input?: string,
): Promise<Exited> {
  const host = dockerHost();
  if (!host) throw new Error('no Docker engine (PD_TEST_DOCKER_HOST)');
  const network = flags.includes('--network') ? [] : ['--network', 'none'];
  return exec('docker', ['-H', host, 'run', '--rm', ...network, ...flags, image, ...args], {
    ...(input !== undefined ? { input } : {}),
  });
}

/** docker names each container's host after the first 12 characters of its id; pd does the same with its own. */
export function normaliseHostname(text: string): string {
  return text.replace(/^HOSTNAME=.*$/m, 'HOSTNAME=<id>');
}
