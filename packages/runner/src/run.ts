import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Image } from '@pd/image';
import { HOLD_CLAIM, type PreparedBundle, prepareBundle } from './bundle.js';
import type { RunOptions, RunResult } from './options.js';
import { releaseBundle } from './owner.js';
import { checkRunnable } from './platform-check.js';
import { unmountRootfs } from './rootfs.js';
import {
  deleteContainer,
  findOciRuntime,
  killContainer,
  launchCommand,
  type OciRuntime,
  startFailure,
  watchContainer,
} from './runtimes/oci.js';
import { exitCodeOfSignal, forwardSignals, signalOfExitCode } from './signals.js';
import { resolveImage, resolveOptions } from './source.js';
import { EXIT_FILE } from './supervisor.js';
import { needsPty, withPty } from './tty.js';

/**
 * Run an image like `docker run`. `input` is an Image (@pd/image), a path to a docker archive,
 * OCI archive or OCI layout, or a reference (resolved with `options.pull`). Unpacks what the
 * layer store lacks, writes a bundle, runs it with runc or crun (or hands everything to docker
 * with `runtime: 'docker'`), passes stdio and signals through, and resolves with the exit code.
 */
export async function run(input: Image | string, options: RunOptions = {}): Promise<RunResult> {
  // Before any unpacking: a missing runtime should fail in milliseconds.
  const runtime = options.runtime === 'docker' ? undefined : findOciRuntime(options.runtime);
  const image = await resolveImage(input, resolveOptions(options));
  if (!runtime) {
    // docker says itself what it cannot run (and may have its own emulation).
    const { dockerRun } = await import('./runtimes/docker.js');
    return dockerRun(image, options);
  }
  // Before any unpacking: runc would only say "exec format error" once the container started.
  const { os, architecture, variant } = await image.config();
  if ((await checkRunnable({ os, architecture, ...(variant ? { variant } : {}) })) === 'emulated') {
    const platform = [os, architecture, variant].filter(Boolean).join('/');
    options.onLog?.({
      kind: 'emulated',
      message: `${platform} runs under an emulator (binfmt_misc)`,
      platform,
    });
  }
  // runc mounts an overlay root itself (saves the unshare/sh/mount processes); crun cannot.
  const bundle = await prepareBundle(image, {
    ...options,
    ...(typeof input === 'string' ? { imageName: input } : {}),
    mountRootfs: runtime.kind === 'runc' ? 'runtime' : false,
    [HOLD_CLAIM]: true,
  });
  try {
    return await runBundle(runtime, bundle, options);
  } finally {
    if (options.rm) await removeBundleDir(bundle);
    releaseBundle(bundle.dir);
  }
}

async function removeBundleDir(bundle: PreparedBundle): Promise<void> {
  if (bundle.mounted) await unmountRootfs(join(bundle.dir, 'rootfs'));
  // A handful of small entries: one synchronous walk beats a thread-pool round trip for each.
  rmSync(bundle.dir, { recursive: true, force: true });
}

type Stdio = 'inherit' | Readable | Writable | undefined;
const inherits = (s: Stdio) => s === undefined || s === 'inherit';

/** Run a prepared bundle with an OCI runtime in the foreground. */
export async function runBundle(
  runtime: OciRuntime,
  bundle: PreparedBundle,
  options: RunOptions = {},
): Promise<RunResult> {
  const logFile = join(bundle.dir, 'runtime.log');
  let cmd: { file: string; args: string[]; env?: NodeJS.ProcessEnv } = launchCommand(
    runtime,
    bundle,
    logFile,
  );
  const tty = options.tty === true;
  const interactive = options.interactive === true;
  const stdin = interactive ? options.stdin : undefined;
  if (
    needsPty(tty, {
      stdin: interactive && inherits(stdin),
      stdout: inherits(options.stdout),
      stderr: inherits(options.stderr),
    })
  ) {
    cmd = withPty(cmd);
  }
  const stdio: StdioOptions = [
    interactive ? (inherits(stdin) ? 'inherit' : 'pipe') : 'ignore',
    inherits(options.stdout) ? 'inherit' : 'pipe',
    inherits(options.stderr) ? 'inherit' : 'pipe',
  ];
  options.onLog?.({
    kind: 'exec',
    message: `exec ${[cmd.file, ...cmd.args].join(' ')}`,
    argv: [cmd.file, ...cmd.args],
  });

  // Its own session: a terminal's Ctrl-C reaches pd alone, which forwards it exactly once.
  const child = spawn(cmd.file, cmd.args, { stdio, detached: true, ...(cmd.env ? { env: cmd.env } : {}) });
  // If pd dies without finishing (SIGKILL, OOM), the watchdog removes the container (watchdog.ts).
  // Started after the runtime, so the container does not wait for it.
  const watchdog = watchContainer(runtime, bundle.id, options.rm ? bundle.dir : undefined);
  const outputs = pipeStdio(child, interactive ? stdin : undefined, options.stdout, options.stderr);
  let killed = false;
  const forceKill = () => {
    killed = true;
    void killContainer(runtime, bundle.id, 'KILL');
  };
  const stopTimeout = options.stopTimeout ?? 10;
  const unforward =
    options.forwardSignals === false
      ? () => {}
      : forwardSignals(child, {
          tty,
          stopTimeout,
          forceKill,
          onSignal: (signal) => options.onLog?.({ kind: 'signal', message: `forwarding ${signal}`, signal }),
        });
  let abortTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    child.kill('SIGTERM');
    abortTimer = setTimeout(forceKill, stopTimeout * 1000);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  try {
    const [code, signal] = await exited(child);
    await outputs;
    // The runtime removes its state when it exits; not when it was itself killed.
    if (signal !== null) await deleteContainer(runtime, bundle.id);
    const exitCode = code ?? exitCodeOfSignal(signal ?? 'SIGKILL');
    // A kept container remembers how it ended, for `pd ps -a` and `pd wait` (supervisor.ts).
    if (!options.rm) writeExit(bundle.dir, exitCode);
    if (exitCode !== 0 && !killed) {
      const failure = await startFailure(runtime, logFile);
      if (failure) throw failure;
    }
    const sig = signalOfExitCode(exitCode);
    return { exitCode, id: bundle.id, ...(sig ? { signal: sig } : {}) };
  } finally {
    watchdog.release();
    unforward();
    if (abortTimer) clearTimeout(abortTimer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function writeExit(dir: string, exitCode: number): void {
  try {
    const file = join(dir, EXIT_FILE);
    writeFileSync(`${file}.tmp`, JSON.stringify({ exitCode, finishedAt: new Date().toISOString() }));
    renameSync(`${file}.tmp`, file);
  } catch {
    // the bundle is gone (removed meanwhile): nothing to remember
  }
}

function exited(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve([code, signal]));
  });
}

/** Connect stream stdio; resolves when the container's output has been written out. */
function pipeStdio(child: ChildProcess, stdin: Stdio, stdout: Stdio, stderr: Stdio): Promise<void> {
  if (stdin && stdin !== 'inherit' && child.stdin) {
    const input = stdin as Readable;
    // The container may exit before reading everything: that is not an error of ours.
    child.stdin.on('error', () => {});
    input.pipe(child.stdin);
  }
  const done: Array<Promise<void>> = [];
  const forward = (from: Readable | null, to: Stdio) => {
    if (!from || !to || to === 'inherit') return;
    const out = to as Writable;
    done.push(
      new Promise((resolve, reject) => {
        from.on('data', (chunk: Buffer) => {
          if (!out.write(chunk)) {
            from.pause();
            out.once('drain', () => from.resume());
          }
        });
        from.once('end', resolve);
        from.once('error', reject);
      }),
    );
  };
  forward(child.stdout, stdout);
  forward(child.stderr, stderr);
  return Promise.all(done).then(() => undefined);
}
