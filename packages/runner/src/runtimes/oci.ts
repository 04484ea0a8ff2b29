import { execFile } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import type { PreparedBundle } from '../bundle.js';
import {
  ContainerStartError,
  RootlessLimitError,
  RuntimeNotFoundError,
  ToolNotFoundError,
} from '../errors.js';
import { isRoot, runtimeStateDir } from '../paths.js';
import { which } from '../tools.js';
import { startWatchdog } from '../watchdog.js';

const execFileP = promisify(execFile);

/** An OCI runtime binary: runc, crun, or another that speaks runc's command line. */
export interface OciRuntime {
  kind: 'runc' | 'crun';
  /** What the user called it (`runc`, `crun`, or a path). */
  name: string;
  path: string;
  /** `--root`: where it keeps container state. */
  stateDir: string;
}

/** Find the runtime to use: the one asked for, else runc, else crun. */
export function findOciRuntime(choice?: string): OciRuntime {
  const candidates = choice ? [choice] : ['runc', 'crun'];
  for (const name of candidates) {
    const path = which(name);
    if (path) {
      const kind = basename(path).includes('crun') ? 'crun' : 'runc';
      return { kind, name, path, stateDir: runtimeStateDir(kind) };
    }
  }
  throw new RuntimeNotFoundError(choice ?? 'runc', choice ? undefined : 'neither runc nor crun is on PATH');
}

const TMPFS_MAGIC = 0x01021994;
const CGROUP2_MAGIC = 0x63677270;
let hybrid: boolean | undefined;

/**
 * crun (up to at least 1.8) refuses cgroup "hybrid" hosts whose v2 hierarchy has controllers
 * ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"), whatever its
 * --cgroup-manager. It decides by statfs of /sys/fs/cgroup/unified, so hiding that mount in
 * crun's own mount namespace makes it see a plain cgroup v1 host, which it supports.
 */
export function crunNeedsHybridWorkaround(): boolean {
  if (hybrid === undefined) {
    try {
      hybrid =
        statfsSync('/sys/fs/cgroup').type === TMPFS_MAGIC &&
        statfsSync('/sys/fs/cgroup/unified').type === CGROUP2_MAGIC &&
        readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim() !== '';
    } catch {
      hybrid = false;
    }
  }
  return hybrid;
}

/** The runtime's own arguments for `run`. */
export function runArgs(rt: OciRuntime, bundle: PreparedBundle, logFile: string): string[] {
  const log =
    rt.kind === 'crun'
      ? [`--log=file:${logFile}`, '--log-format=json']
      : ['--log', logFile, '--log-format', 'json'];
  return ['--root', rt.stateDir, ...log, 'run', '--bundle', bundle.dir, bundle.id];
}

/**
 * The command that runs the bundle. When the root filesystem is an overlay left to the caller
 * (crun, which will not mount `/` from config.json), or crun needs the cgroup workaround, the
 * runtime is started inside a private mount namespace (`unshare --mount`) by a two-line shell
 * script that mounts first: the mount then lives exactly as long as the container, even if pd
 * is killed. runc mounts the overlay itself from config.json, in the container's namespace.
 */
export function launchCommand(
  rt: OciRuntime,
  bundle: PreparedBundle,
  logFile: string,
): { file: string; args: string[] } {
  const runtimeArgv = [rt.path, ...runArgs(rt, bundle, logFile)];
  const overlay =
    bundle.rootfs.mode === 'overlay' && bundle.overlayBy === 'caller' ? bundle.rootfs : undefined;
  const cgroupFix = rt.kind === 'crun' && crunNeedsHybridWorkaround();
  // The workaround unmounts in a mount namespace of its own, which needs root.
  if (cgroupFix && !isRoot)
    throw new RootlessLimitError('crun on a host with hybrid cgroups', 'use runc (--runtime runc)');
  if (!overlay && !cgroupFix) return { file: rt.path, args: runtimeArgv.slice(1) };
  const unshare = which('unshare');
  if (!unshare)
    throw new ToolNotFoundError('unshare', 'mount the rootfs in a private namespace', 'util-linux');
  const lines = ['set -e'];
  if (cgroupFix) lines.push('umount -l /sys/fs/cgroup/unified');
  if (overlay) lines.push('cd "$1"', 'mount -t overlay overlay -o "$2" "$3"');
  lines.push('shift 3', 'exec "$@"');
  return {
    file: unshare,
    args: [
      '--mount',
      '--propagation',
      'private',
      '--',
      '/bin/sh',
      '-c',
      lines.join('\n'),
      'pd-run',
      overlay?.base ?? '/',
      overlay?.options ?? '',
      overlay?.target ?? '',
      ...runtimeArgv,
    ],
  };
}

/** Send a signal to the container's init process; rejects with the runtime's message when it cannot. */
export async function signalContainer(rt: OciRuntime, id: string, signal: string): Promise<void> {
  try {
    await execFileP(rt.path, ['--root', rt.stateDir, 'kill', id, signal]);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error((err.stderr || err.message).trim());
  }
}

/** Send a signal to the container's init process. */
export async function killContainer(rt: OciRuntime, id: string, signal: string): Promise<void> {
  await execFileP(rt.path, ['--root', rt.stateDir, 'kill', id, signal]).catch(() => undefined);
}

/** A container as the runtime lists it: `running`, `created`, `paused` or `stopped`. */
export interface RuntimeContainer {
  id: string;
  status: string;
  /** Its init process on the host (0 once stopped). */
  pid: number;
  bundle: string;
}

/** The containers the runtime has state for (`list --format json`); empty when it cannot say. */
export async function listRuntimeContainers(rt: OciRuntime): Promise<RuntimeContainer[]> {
  try {
    const { stdout } = await execFileP(rt.path, ['--root', rt.stateDir, 'list', '--format', 'json']);
    const list = JSON.parse(stdout) as RuntimeContainer[] | null; // runc prints null for none
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

/** Statuses in which a container still has processes (or is about to). */
export const LIVE_STATUSES: ReadonlySet<string> = new Set(['running', 'created', 'paused', 'creating']);

/** The watchdog of a container run by `rt` (see watchdog.ts): a forced delete when pd dies. */
export function watchContainer(rt: OciRuntime, id: string, removeDir?: string): { release(): void } {
  return startWatchdog(
    [rt.path, '--root', rt.stateDir, 'delete', '--force', id],
    removeDir ? { removeDir } : {},
  );
}

/** Remove the runtime's state of a container that `run` did not clean up (it was killed). */
export async function deleteContainer(rt: OciRuntime, id: string): Promise<void> {
  await execFileP(rt.path, ['--root', rt.stateDir, 'delete', '--force', id]).catch(() => undefined);
}

/**
 * The runtime's own failure, from its JSON log, as docker reports it: 127 for a command that is
 * not there, 126 for one that cannot be executed, 125 otherwise. Undefined when the runtime
 * logged no error (the exit code is then the container's).
 */
export async function startFailure(
  rt: OciRuntime,
  logFile: string,
): Promise<ContainerStartError | undefined> {
  let text: string;
  try {
    text = await readFile(logFile, 'utf8');
  } catch {
    return undefined;
  }
  return failureOfLog(rt, text);
}

/** {@link startFailure} from the text of the runtime's JSON log. */
export function failureOfLog(rt: OciRuntime, text: string): ContainerStartError | undefined {
  let message: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === 'error' && entry.msg) message = entry.msg;
    } catch {
      // not JSON: ignore
    }
  }
  if (!message) return undefined;
  const detail = message.replace(/^runc (run|create|exec) failed: /, '');
  const code = /executable file .*not found|exec: .*no such file or directory/i.test(detail)
    ? 127
    : /(exec|executable).*(permission denied|exec format error)/i.test(detail)
      ? 126
      : 125;
  return new ContainerStartError(rt.name, detail, code);
}
