import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { which } from './tools.js';

const execFileP = promisify(execFile);

/**
 * The Docker engine tests may use: `PD_TEST_DOCKER_HOST` (set by .ci/run, which starts its own
 * dockerd) or else `DOCKER_HOST`. Tests never start or stop the engine themselves.
 */
export function dockerHost(): string | undefined {
  return process.env.PD_TEST_DOCKER_HOST || process.env.DOCKER_HOST || undefined;
}

let reachable: boolean | undefined;

/** Skip reason when no Docker engine is reachable, else undefined. */
export function dockerMissing(): string | undefined {
  const host = dockerHost();
  if (!which('docker')) return report('skipped: docker CLI not installed (.ci/run installs docker.io)');
  if (!host) return report('skipped: no Docker engine (set PD_TEST_DOCKER_HOST; .ci/run starts dockerd)');
  if (reachable === undefined) {
    try {
      execFileSync('docker', ['-H', host, 'version', '--format', '{{.Server.Version}}'], {
        stdio: 'ignore',
        timeout: 10_000,
      });
      reachable = true;
    } catch {
      reachable = false;
    }
  }
  return reachable ? undefined : report(`skipped: Docker engine at ${host} does not answer`);
}

function report(reason: string): string {
  process.stderr.write(`[pd tests] ${reason}\n`);
  return reason;
}

export interface DockerResult {
  stdout: string;
  stderr: string;
}

/** Run `docker -H <host> ...args` and return its output; rejects with stderr on failure. */
export async function docker(
  args: string[],
  options: { input?: string | Buffer; timeout?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<DockerResult> {
  const host = dockerHost();
  if (!host) throw new Error('no Docker engine configured (PD_TEST_DOCKER_HOST)');
  const full = ['-H', host, ...args];
  if (options.input !== undefined) {
    return new Promise((resolve, reject) => {
      const child = execFile(
        'docker',
        full,
        {
          timeout: options.timeout ?? 300_000,
          maxBuffer: 64 << 20,
          encoding: 'utf8',
          env: options.env ?? process.env,
        },
        (err, stdout, stderr) =>
          err
            ? reject(new Error(`docker ${args.join(' ')}: ${stderr || err.message}`))
            : resolve({ stdout, stderr }),
      );
      child.stdin?.end(options.input);
    });
  }
  try {
    const { stdout, stderr } = await execFileP('docker', full, {
      timeout: options.timeout ?? 300_000,
      maxBuffer: 64 << 20,
      encoding: 'utf8',
      env: options.env ?? process.env,
    });
    return { stdout, stderr };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`docker ${args.join(' ')}: ${err.stderr || err.message}`);
  }
}
