// Containers that outlive pd (docker's run -d, ps, stop, kill, wait, rm): started under a
// supervisor of their own (supervisor.ts), found again by name, id or id prefix, their state
// read from the bundle directory (owner, exit record) and the runtime. exec.ts and logs.ts
// build on the helpers exported here.

import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Image } from '@pd/image';
import { HOLD_CLAIM, prepareBundle } from './bundle.js';
import {
  type Bundle,
  type BundleInfo,
  bundles,
  type ContainerInfo,
  infoOf,
  type OwnerRecord,
  removeBundle,
} from './containers.js';
import {
  AmbiguousContainerError,
  ContainerNotFoundError,
  ContainerNotRunningError,
  ContainerRunningError,
  InvalidOptionError,
} from './errors.js';
import type { RunOptions } from './options.js';
import { OWNER_FILE, ownerAlive, releaseBundle } from './owner.js';
import { checkRunnable } from './platform-check.js';
import {
  failureOfLog,
  findOciRuntime,
  LIVE_STATUSES,
  launchCommand,
  listRuntimeContainers,
  type OciRuntime,
  signalContainer,
} from './runtimes/oci.js';
import { resolveImage, resolveOptions } from './source.js';
import { EXIT_FILE, startSupervisor, TOMBSTONE } from './supervisor.js';
import { withPty } from './tty.js';

/** @internal */
export type Located = Bundle & { info: BundleInfo };

export const signals = osConstants.signals as unknown as Record<string, number>;

export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** A container by name, full id or unique id prefix (as docker takes them). */
export async function locate(ref: string, cacheDir: string | undefined): Promise<Located> {
  const all = (await bundles(cacheDir)).filter((b): b is Located => b.info !== undefined);
  const exact = all.find((b) => b.id === ref || b.info.name === ref);
  if (exact) return exact;
  const hits = ref === '' ? [] : all.filter((b) => b.id.startsWith(ref));
  if (hits.length > 1)
    throw new AmbiguousContainerError(
      ref,
      hits.map((b) => b.id),
    );
  if (!hits[0]) throw new ContainerNotFoundError(ref);
  return hits[0];
}

/** Options every lifecycle function takes. */
export interface ContainerOptions {
  /** pd's cache, where the containers are (default: see {@link RunOptions.cacheDir}). */
  cacheDir?: string;
}

/** The container `ref` names (a name, an id or a unique id prefix), with its state. */
export async function inspectContainer(ref: string, options: ContainerOptions = {}): Promise<ContainerInfo> {
  return infoOf(await locate(ref, options.cacheDir));
}

/**
 * Start a container in the background, like `docker run -d`, and resolve with its id once the
 * runtime runs it (or it already ended). It outlives this process: a supervisor of its own
 * (supervisor.ts) runs the runtime, keeps the output in a log ({@link containerLogs}) and
 * records the exit code ({@link waitContainer}). `stdout`, `stderr`, `stdin` and signal
 * forwarding do not apply; `interactive` keeps the container's stdin open (a shell waits on it)
 * and `tty` gives it a terminal whose output is logged. A start failure (a command not in the
 * image...) rejects with ContainerStartError, as `run` does.
 */
export async function startContainer(
  input: Image | string,
  options: RunOptions = {},
): Promise<{ id: string }> {
  if (options.runtime === 'docker')
    throw new InvalidOptionError(
      '--runtime',
      'docker cannot run a container detached for pd',
      'use runc or crun',
    );
  const runtime = findOciRuntime(options.runtime);
  const image = await resolveImage(input, resolveOptions(options));
  const { os, architecture, variant } = await image.config();
  await checkRunnable({ os, architecture, ...(variant ? { variant } : {}) });
  const bundle = await prepareBundle(image, {
    ...options,
    ...(typeof input === 'string' ? { imageName: input } : {}),
    mountRootfs: runtime.kind === 'runc' ? 'runtime' : false,
    [HOLD_CLAIM]: true,
  });
  try {
    let cmd: { file: string; args: string[]; env?: NodeJS.ProcessEnv } = launchCommand(
      runtime,
      bundle,
      join(bundle.dir, 'runtime.log'),
    );
    // No terminal of pd's may be tied to it: a -t container gets a pty of its own, logged.
    if (options.tty) cmd = withPty(cmd);
    options.onLog?.({
      kind: 'exec',
      message: `exec ${[cmd.file, ...cmd.args].join(' ')} (detached)`,
      argv: [cmd.file, ...cmd.args],
    });
    const rt = ['--root', runtime.stateDir];
    const report = await startSupervisor({
      dir: bundle.dir,
      argv: [cmd.file, ...cmd.args],
      ...(cmd.env ? { env: cmd.env } : {}),
      cleanup: [runtime.path, ...rt, 'delete', '--force', bundle.id],
      state: [runtime.path, ...rt, 'state', bundle.id],
      // With -t, `script` reads it for the terminal: at end of file it would type ^@ into it.
      stdin: options.interactive === true || options.tty === true,
      rm: options.rm === true,
      tombstone: TOMBSTONE,
    });
    if ('exitCode' in report && report.exitCode !== 0) {
      const failure = failureOfLog(runtime, report.runtimeLog);
      if (failure) {
        // The exit code docker gives it (127 for a missing command), not the runtime's own 1.
        if (!options.rm) await writeExitRecord(bundle.dir, failure.exitCode);
        throw failure;
      }
    }
    return { id: bundle.id };
  } finally {
    releaseBundle(bundle.dir);
  }
}

async function writeExitRecord(dir: string, exitCode: number): Promise<void> {
  const file = join(dir, EXIT_FILE);
  await writeFile(`${file}.tmp`, JSON.stringify({ exitCode, finishedAt: new Date().toISOString() }));
  await rename(`${file}.tmp`, file);
}

/** Where a container stands now, read again from disk (cheap enough to poll). */
export async function currentState(b: Located): Promise<'running' | 'exited'> {
  if (await readJson(join(b.dir, EXIT_FILE))) return 'exited';
  const owner = await readJson<OwnerRecord>(join(b.dir, OWNER_FILE));
  if (owner && ownerAlive(owner)) {
    // The bundle is gone (a `--rm` container removed itself): ended.
    return (await stat(b.dir).catch(() => undefined)) ? 'running' : 'exited';
  }
  // No live owner: only the runtime can tell (an orphan runs on).
  if (!b.runtime) return 'exited';
  const live = (await listRuntimeContainers(b.runtime.rt)).find((c) => c.id === b.id);
  return live && LIVE_STATUSES.has(live.status) ? 'running' : 'exited';
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until the container has exited; false when `ms` passed first. */
async function exitedWithin(b: Located, ms: number, signal?: AbortSignal): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if ((await currentState(b)) === 'exited') return true;
    signal?.throwIfAborted();
    if (Date.now() >= end) return false;
    await sleep(Math.min(50, Math.max(1, end - Date.now())));
  }
}

function runtimeOf(b: Located): OciRuntime {
  if (!b.runtime) throw new ContainerNotRunningError(b.id);
  return b.runtime.rt;
}

/**
 * Stop a container like `docker stop`: SIGTERM to its main process, then SIGKILL when it is still
 * there `timeout` seconds later (default 10); resolves once it has exited. A container that is not
 * running is left as it is.
 */
export async function stopContainer(
  ref: string,
  options: ContainerOptions & { timeout?: number; signal?: string } = {},
): Promise<{ id: string }> {
  const b = await locate(ref, options.cacheDir);
  if (b.state === 'exited' || !b.runtime) return { id: b.id };
  const rt = b.runtime.rt;
  await signalContainer(rt, b.id, normalizeSignal(options.signal ?? 'SIGTERM')).catch(() => undefined);
  if (!(await exitedWithin(b, (options.timeout ?? 10) * 1000))) {
    await signalContainer(rt, b.id, 'KILL').catch(() => undefined);
    await exitedWithin(b, 30_000);
  }
  return { id: b.id };
}

/** `KILL`, `SIGKILL`, `kill`, `9` → `SIGKILL`; an unknown signal is an InvalidOptionError. */
export function normalizeSignal(signal: string): string {
  const s = signal.trim().toUpperCase();
  const name = /^\d+$/.test(s)
    ? Object.keys(signals).find((k) => signals[k] === Number(s))
    : s.startsWith('SIG')
      ? s
      : `SIG${s}`;
  if (name && signals[name] !== undefined) return name;
  throw new InvalidOptionError(
    '--signal',
    `unknown signal "${signal}"`,
    'give a name (TERM, SIGHUP) or a number',
  );
}

/** Send a signal (default SIGKILL) to a running container's main process, like `docker kill -s`. */
export async function killContainer(
  ref: string,
  options: ContainerOptions & { signal?: string } = {},
): Promise<{ id: string }> {
  const sig = normalizeSignal(options.signal ?? 'KILL');
  const b = await locate(ref, options.cacheDir);
  if (b.state === 'exited') throw new ContainerNotRunningError(b.id);
  try {
    await signalContainer(runtimeOf(b), b.id, sig);
  } catch {
    // It ended meanwhile, or was still being prepared.
    throw new ContainerNotRunningError(b.id);
  }
  return { id: b.id };
}

/**
 * Wait until a container has exited and resolve with its exit code, like `docker wait`.
 * `exitCode` is undefined when nobody saw it end (its supervisor or `pd run` was killed).
 */
export async function waitContainer(
  ref: string,
  options: ContainerOptions & { signal?: AbortSignal } = {},
): Promise<{ id: string; exitCode?: number }> {
  const b = await locate(ref, options.cacheDir);
  await exitedWithin(b, Number.POSITIVE_INFINITY, options.signal);
  const exit =
    (await readJson<{ exitCode: number }>(join(b.dir, EXIT_FILE))) ??
    (await readJson<{ exitCode: number }>(`${b.dir}${TOMBSTONE}`));
  return { id: b.id, ...(exit ? { exitCode: exit.exitCode } : {}) };
}

/**
 * Remove a container: its runtime state, its writable layer and bundle, anything mounted for it.
 * A running (or orphaned) one is refused (ContainerRunningError) unless `force`, which kills it (SIGKILL) and
 * waits for it to end first, as `docker rm -f`.
 */
export async function removeContainer(
  ref: string,
  options: ContainerOptions & { force?: boolean } = {},
): Promise<{ id: string }> {
  const b = await locate(ref, options.cacheDir);
  // An orphan runs too (with nobody in charge of it): refused as well.
  if (b.state !== 'exited' && !options.force) throw new ContainerRunningError(b.id);
  if (b.state !== 'exited' && b.runtime) {
    await signalContainer(b.runtime.rt, b.id, 'KILL').catch(() => undefined);
    // Its supervisor (or pd run) records the end; an orphan's state is deleted below.
    if (b.state === 'running') await exitedWithin(b, 10_000);
  }
  await removeBundle(b);
  return { id: b.id };
}
