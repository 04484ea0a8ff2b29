import { type StdioOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Process, RuntimeSpec } from '@pd/oci-types';
import { userEnvEntries } from './env.js';
import { ContainerNotRunningError, ContainerStartError, InvalidOptionError } from './errors.js';
import { type ContainerOptions, locate, signals } from './lifecycle.js';
import { isRoot } from './paths.js';
import { crunNeedsHybridWorkaround, failureOfLog, LIVE_STATUSES } from './runtimes/oci.js';
import { which } from './tools.js';
import { needsPty, withPty } from './tty.js';
import { resolveUser } from './user.js';

// `docker exec`: the runtime's `exec` with the container's own process (config.json), changed
// by -u, -w, -e, -t as docker changes it.

/** Options of {@link execInContainer}: those of `docker exec`. */
export interface ExecOptions extends ContainerOptions {
  /** `-u`: user (name or uid, `:group`), resolved through the container's own /etc/passwd. Default: the container's. */
  user?: string;
  /** `-w`: working directory (absolute). Default: the container's. */
  workdir?: string;
  /** `-e`: variables added to the container's environment (`K` copies K from this process). */
  env?: string[] | Record<string, string>;
  /** `-i`: connect stdin. */
  interactive?: boolean;
  /** `-t`: a terminal. */
  tty?: boolean;
  /** Default this process's stdin (with `interactive`). */
  stdin?: Readable | 'inherit';
  /** Default this process's stdout. Not ended. */
  stdout?: Writable | 'inherit';
  /** Default this process's stderr. Not ended. */
  stderr?: Writable | 'inherit';
}

/**
 * Run a command in a running container, like `docker exec`: in its namespaces, cgroup and root
 * filesystem, with its environment and user unless told otherwise. Resolves with the command's
 * exit code; a command that cannot be started rejects with ContainerStartError, exit code 126
 * whatever the reason, as docker exec says it.
 */
export async function execInContainer(
  ref: string,
  command: string[],
  options: ExecOptions = {},
): Promise<{ exitCode: number }> {
  if (command.length === 0) throw new InvalidOptionError('command', 'no command given to exec');
  const b = await locate(ref, options.cacheDir);
  if (b.state === 'exited' || !b.runtime || !LIVE_STATUSES.has(b.runtime.state.status))
    throw new ContainerNotRunningError(b.id);
  const rt = b.runtime.rt;
  if (options.workdir !== undefined && !options.workdir.startsWith('/'))
    throw new InvalidOptionError('-w', `"${options.workdir}" is not an absolute path`);
  // The process to run, as config.json has the container's (capabilities, user, env, cwd...),
  // changed as docker exec changes it; handed over with --process, which runc and crun share.
  const spec = JSON.parse(await readFile(join(b.dir, 'config.json'), 'utf8')) as RuntimeSpec;
  const proc: Process = { ...spec.process!, args: command, terminal: options.tty === true };
  delete proc.consoleSize;
  if (options.user !== undefined) {
    // The container's own files, through its init process: they may differ from the image's.
    const root = `/proc/${b.runtime.state.pid}/root`;
    const [passwd, group] = await Promise.all([
      readFile(join(root, 'etc/passwd'), 'utf8').catch(() => undefined),
      readFile(join(root, 'etc/group'), 'utf8').catch(() => undefined),
    ]);
    const user = resolveUser(options.user, passwd, group);
    proc.user = {
      uid: user.uid,
      gid: user.gid,
      // runc refuses supplementary groups in every rootless container.
      ...(user.additionalGids.length > 0 && isRoot ? { additionalGids: user.additionalGids } : {}),
    };
  }
  if (options.workdir !== undefined) proc.cwd = options.workdir;
  const extra = userEnvEntries(options.env).filter((e) => e.includes('='));
  const keyOf = (e: string) => e.slice(0, e.indexOf('='));
  const replaced = new Set(extra.map(keyOf));
  proc.env = [...(proc.env ?? []).filter((e) => !replaced.has(keyOf(e))), ...extra];
  const tag = randomBytes(6).toString('hex');
  const processFile = join(b.dir, `exec-${tag}.json`);
  const logFile = join(b.dir, `exec-${tag}.log`);
  await writeFile(processFile, JSON.stringify(proc));
  const tty = options.tty === true;
  const log =
    rt.kind === 'crun'
      ? [`--log=file:${logFile}`, '--log-format=json']
      : ['--log', logFile, '--log-format', 'json'];
  const argv = [rt.path, '--root', rt.stateDir, ...log, 'exec', '--process', processFile, b.id];
  let cmd: { file: string; args: string[]; env?: NodeJS.ProcessEnv } = {
    file: argv[0]!,
    args: argv.slice(1),
  };
  if (rt.kind === 'crun' && crunNeedsHybridWorkaround()) {
    // As for run (oci.ts): crun must not see the cgroup v2 mount of a hybrid host.
    const unshare = which('unshare');
    if (unshare)
      cmd = {
        file: unshare,
        args: [
          '--mount',
          '--propagation',
          'private',
          '--',
          '/bin/sh',
          '-c',
          'umount -l /sys/fs/cgroup/unified; exec "$@"',
          'pd-exec',
          ...argv,
        ],
      };
  }
  const inherits = (s: unknown) => s === undefined || s === 'inherit';
  const interactive = options.interactive === true;
  const pty = needsPty(tty, {
    stdin: interactive && inherits(options.stdin),
    stdout: inherits(options.stdout),
    stderr: inherits(options.stderr),
  });
  if (pty) cmd = withPty(cmd);
  const stdio: StdioOptions = [
    // `script` reads stdin for the terminal: at end of file it would type ^@ into it.
    interactive ? (inherits(options.stdin) ? 'inherit' : 'pipe') : pty ? 'pipe' : 'ignore',
    inherits(options.stdout) ? 'inherit' : 'pipe',
    inherits(options.stderr) ? 'inherit' : 'pipe',
  ];
  const child = spawn(cmd.file, cmd.args, { stdio, ...(cmd.env ? { env: cmd.env } : {}) });
  child.stdin?.on('error', () => {});
  if (interactive && !inherits(options.stdin) && child.stdin) {
    child.stdin.on('error', () => {});
    (options.stdin as Readable).pipe(child.stdin);
  }
  const done: Array<Promise<void>> = [];
  for (const [from, to] of [
    [child.stdout, options.stdout],
    [child.stderr, options.stderr],
  ] as const) {
    if (!from || inherits(to)) continue;
    const w = to as Writable;
    from.on('data', (c: Buffer) => w.write(c));
    done.push(new Promise((res) => from.once('end', () => res())));
  }
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c, s) => resolve(c ?? 128 + (signals[s ?? 'SIGKILL'] ?? 9)));
    });
    await Promise.all(done);
    if (!interactive) child.stdin?.destroy(); // the pipe held open for `script`
    if (code !== 0) {
      const failure = failureOfLog(rt, await readFile(logFile, 'utf8').catch(() => ''));
      // docker exec gives 126 to every exec the runtime could not start (not 127 as docker run).
      if (failure) throw new ContainerStartError(rt.name, failure.detail, 126, failure.exitCode);
    }
    return { exitCode: code };
  } finally {
    await Promise.all([rm(logFile, { force: true }), rm(processFile, { force: true })]);
  }
}
