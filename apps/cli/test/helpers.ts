import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The built CLI: tests run what users run. `pnpm test` builds it first. */
export const PD_MAIN = join(CLI_DIR, 'dist', 'main.js');
export const PD_BUNDLE = join(CLI_DIR, 'bundle', 'pd.mjs');

export interface PdResult {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface PdOptions {
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  cwd?: string;
  /** Script to run instead of dist/main.js (the bundle). */
  script?: string;
  timeout?: number;
  /**
   * Run as this unprivileged user (with its own groups, through setpriv) instead of the test's;
   * the script, its directory and the cache must be readable by that user.
   */
  user?: string;
}

/** A private HOME, DOCKER_CONFIG and cache for a test file: nothing of the machine's leaks in. */
export function isolatedEnv(): { env: NodeJS.ProcessEnv; dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'pd-cli-test-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: join(dir, 'home'),
    DOCKER_CONFIG: join(dir, 'docker'),
    PD_CACHE_DIR: join(dir, 'cache'),
    ...(process.env.PD_TEST_DOCKER_HOST ? { PD_TEST_DOCKER_HOST: process.env.PD_TEST_DOCKER_HOST } : {}),
  };
  return { env, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Run `pd args...` as a subprocess; never rejects on a non-zero exit. */
export function pd(args: readonly string[], options: PdOptions = {}): Promise<PdResult> {
  return new Promise((resolve, reject) => {
    // `node -- SCRIPT`, as the executables' launcher runs it: Node 20 would take a `--env-file`
    // among pd's arguments for its own.
    const node = [process.execPath, '--', options.script ?? PD_MAIN, ...args];
    const argv = options.user
      ? ['setpriv', `--reuid=${options.user}`, `--regid=${options.user}`, '--init-groups', ...node]
      : node;
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd,
      env: options.env ?? { PATH: process.env.PATH },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        stdout: stdoutBytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        stdoutBytes,
      });
    });
    child.stdin.end(options.input);
  });
}

/**
 * The shape of a failure every command must give: exit code, one `pd: ` line on stderr (plus the
 * usage lines for usage errors), no stack trace, nothing on stdout.
 */
export function failureLine(r: PdResult): string {
  const lines = r.stderr.trimEnd().split('\n');
  return lines[0] ?? '';
}

export function hasStackTrace(text: string): boolean {
  return /^\s+at .+\(.+:\d+:\d+\)$/m.test(text) || /^\s+at .+:\d+:\d+$/m.test(text);
}
