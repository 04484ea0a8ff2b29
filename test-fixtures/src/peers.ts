import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { isRoot, missingTools, which } from './tools.js';

/**
 * Independent peers that read or run what pd writes. Each wrapper runs the real tool and returns
 * its output; each `xMissing()` returns a skip reason (for `describe.skipIf`) or undefined.
 */

export interface PeerOptions {
  cwd?: string;
  /** Written to the tool's stdin. */
  input?: string | Uint8Array;
  /** Milliseconds before the tool is killed (default 120 s). */
  timeout?: number;
  env?: NodeJS.ProcessEnv;
}

export interface PeerResult {
  stdout: string;
  stderr: string;
}

/** A peer tool exited non-zero (or was killed); keeps its output so tests can assert on it. */
export class PeerError extends Error {
  constructor(
    readonly tool: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
    why: string,
  ) {
    super(`${tool} ${args.join(' ')}: ${stderr.trim() || why}`);
    this.name = 'PeerError';
  }
}

/** Run `tool args` to completion; resolves with its output, rejects with a PeerError. */
export function runPeer(
  tool: string,
  args: readonly string[],
  options: PeerOptions = {},
): Promise<PeerResult> {
  const bin = which(tool);
  if (!bin) return Promise.reject(new Error(`${tool} is not installed (.ci/run installs it)`));
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeout ?? 120_000,
        maxBuffer: 64 << 20,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const code = typeof err.code === 'number' ? err.code : null;
        const why = err.killed ? `killed (${err.signal ?? 'timeout'})` : err.message;
        reject(new PeerError(tool, args, code, stdout, stderr, why));
      },
    );
    child.stdin?.end(options.input);
  });
}

export const skopeo = (args: readonly string[], options?: PeerOptions) => runPeer('skopeo', args, options);
export const umoci = (args: readonly string[], options?: PeerOptions) => runPeer('umoci', args, options);
export const runc = (args: readonly string[], options?: PeerOptions) => runPeer('runc', args, options);
export const crun = (args: readonly string[], options?: PeerOptions) => runPeer('crun', args, options);
export const gnuTar = (args: readonly string[], options?: PeerOptions) => runPeer('tar', args, options);

/**
 * Podman on private storage under `root` (vfs, no cgroups manager, no events), so tests never
 * touch the machine's images and need no podman configuration.
 */
export function podmanIn(root: string) {
  const global = [
    ...['--root', join(root, 'storage'), '--runroot', join(root, 'run')],
    ...['--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'],
  ];
  return (args: readonly string[], options?: PeerOptions) => runPeer('podman', [...global, ...args], options);
}

export const skopeoMissing = (): string | undefined => missingTools('skopeo');
export const umociMissing = (): string | undefined => missingTools('umoci');
export const podmanMissing = (): string | undefined => missingTools('podman');

/** runc and crun create namespaces and cgroups: they need root as well as the binary. */
export function runcMissing(): string | undefined {
  return missingTools('runc') ?? rootMissing('runc');
}
export function crunMissing(): string | undefined {
  return missingTools('crun') ?? rootMissing('crun');
}

let gnuTarReason: string | undefined | null = null;

/** `tar` must be GNU tar: bsdtar and busybox tar spell whiteouts and long names differently. */
export function gnuTarMissing(): string | undefined {
  if (gnuTarReason !== null) return gnuTarReason;
  gnuTarReason = missingTools('tar');
  if (!gnuTarReason) {
    const version = execFileSync('tar', ['--version'], { encoding: 'utf8', timeout: 10_000 });
    if (!version.includes('GNU tar'))
      gnuTarReason = report('skipped: tar on PATH is not GNU tar (apt-get install tar)');
  }
  return gnuTarReason;
}

function rootMissing(tool: string): string | undefined {
  return isRoot ? undefined : report(`skipped: ${tool} needs root`);
}

function report(reason: string): string {
  process.stderr.write(`[pd tests] ${reason}\n`);
  return reason;
}
