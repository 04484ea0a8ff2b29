import { spawn } from 'node:child_process';

/** What a detached container's supervisor needs to know (passed to it as JSON). */
export interface SupervisorJob {
  /** The bundle directory: it writes `pd-owner.json`, `container.log` and `pd-exit.json` there. */
  dir: string;
  /** The runtime command that runs the container in the foreground (launchCommand, maybe under `script`). */
  argv: string[];
  env?: NodeJS.ProcessEnv;
  /** The runtime's forced delete, for when the runtime itself was killed. */
  cleanup: string[];
  /** The runtime's `state ID`, polled until the container runs. */
  state: string[];
  /** `-i`: the container's stdin is a pipe held open (docker -di keeps a shell alive), else /dev/null. */
  stdin: boolean;
  /** `--rm`: remove the bundle once the container exited. */
  rm: boolean;
  /** {@link TOMBSTONE} (the function cannot name module constants). */
  tombstone: string;
}

/** Files of a bundle directory written by the supervisor (and, for foreground runs, by `run`). */
export const LOG_FILE = 'container.log';
export const EXIT_FILE = 'pd-exit.json';
/** Suffix of the exit record a `--rm` container leaves beside its removed bundle directory. */
export const TOMBSTONE = '.exit.json';

/**
 * The supervisor of a detached container, run by `node -e` in a session of its own so that it
 * outlives pd. It stands where docker's containerd-shim stands: the runtime runs the container
 * in the foreground as its child, it writes the container's output to `container.log` as JSON
 * lines (docker's json-file format: `{"log","stream","time"}`) and, when the container ends, the
 * exit code to `pd-exit.json`, then exits. Its pid and start time are the bundle's owner, so
 * `listContainers` knows a container as running exactly while its supervisor lives.
 *
 * Serialised with Function.prototype.toString: it must stay self-contained (no imports, no
 * outer names) and load Node's modules with process.getBuiltinModule (a bundler rewrites
 * `require`). So no file path is resolved at run time, and the runner stays bundlable.
 */
/* c8 ignore start */
function supervise(job: SupervisorJob): void {
  const fs = process.getBuiltinModule('node:fs');
  const cp = process.getBuiltinModule('node:child_process');
  const path = process.getBuiltinModule('node:path');
  const os = process.getBuiltinModule('node:os');
  const at = (f: string) => path.join(job.dir, f);
  const writeAtomic = (f: string, value: unknown) => {
    fs.writeFileSync(`${at(f)}.tmp`, JSON.stringify(value));
    fs.renameSync(`${at(f)}.tmp`, at(f));
  };
  // Who is in charge from now on: this process (with its start time, see owner.ts).
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  writeAtomic('pd-owner.json', { pid: process.pid, start, rm: job.rm, detached: true });
  const log = fs.openSync(at('container.log'), 'a', 0o600);
  const child = cp.spawn(job.argv[0]!, job.argv.slice(1), {
    stdio: [job.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    ...(job.env ? { env: job.env } : {}),
  });
  // Nobody ever writes to it: the pipe stays open while this process lives, as docker's -i does.
  child.stdin?.on('error', () => {});
  const rest: Record<string, string> = { stdout: '', stderr: '' };
  const record = (stream: 'stdout' | 'stderr', text: string) => {
    fs.writeSync(log, `${JSON.stringify({ log: text, stream, time: new Date().toISOString() })}\n`);
  };
  const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const text = rest[stream] + chunk.toString('utf8');
    const lines = text.split('\n');
    rest[stream] = lines.pop()!;
    for (const line of lines) record(stream, `${line}\n`);
  };
  // One line to the pd that started it, then the pipe is closed: `{"started":true}` once the
  // runtime says the container runs, or how it ended (with the runtime's error) if it ended first.
  let reported = false;
  const report = (value: unknown) => {
    if (reported) return;
    reported = true;
    clearInterval(poll);
    process.stdout.on('error', () => {}); // pd is gone: nobody to tell
    process.stdout.end(`${JSON.stringify(value)}\n`);
  };
  const poll = setInterval(() => {
    cp.execFile(job.state[0]!, job.state.slice(1), (err, out) => {
      try {
        if (!err && JSON.parse(out).status === 'running') report({ started: true });
      } catch {
        // not yet
      }
    });
  }, 20);
  child.stdout!.on('data', collect('stdout'));
  child.stderr!.on('data', collect('stderr'));
  // A stop or kill reaches the container through the runtime; the supervisor itself holds on.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => {});
  let done = 0;
  let exitCode = 0;
  let runtimeKilled = false;
  const finish = () => {
    if (++done < 3) return; // exit, and both output pipes at end of file
    for (const stream of ['stdout', 'stderr'] as const) if (rest[stream]) record(stream, rest[stream]!);
    fs.closeSync(log);
    // The runtime removes its state when it exits, but not when it was killed itself.
    if (runtimeKilled) cp.spawnSync(job.cleanup[0]!, job.cleanup.slice(1), { stdio: 'ignore' });
    writeAtomic('pd-exit.json', { exitCode, finishedAt: new Date().toISOString() });
    let runtimeLog = '';
    try {
      runtimeLog = fs.readFileSync(at('runtime.log'), 'utf8');
    } catch {
      // the runtime never started
    }
    report({ exitCode, runtimeLog });
    if (job.rm) {
      // The bundle goes, but `waitContainer` must still learn the exit code (as `docker wait`
      // does of a --rm container): a tombstone beside it, removed by pruneContainers.
      fs.writeFileSync(
        `${job.dir}${job.tombstone}`,
        JSON.stringify({ exitCode, finishedAt: new Date().toISOString() }),
      );
      fs.rmSync(job.dir, { recursive: true, force: true });
    }
    // Nothing is left to do (a write to a pipe is synchronous on Linux: the report is out).
    setImmediate(() => process.exit(0));
  };
  child.stdout!.once('end', finish);
  child.stderr!.once('end', finish);
  child.once('error', (e: Error) => {
    record('stderr', `pd: ${e.message}\n`);
    exitCode = 125;
    done = 2;
    finish();
  });
  child.once('exit', (code, signal) => {
    runtimeKilled = signal !== null;
    exitCode = code ?? 128 + (os.constants.signals[signal!] ?? 9);
    finish();
  });
}
/* c8 ignore stop */

/** The supervisor's one report: the container runs, or it ended first (see {@link supervise}). */
export type SupervisorReport = { started: true } | { exitCode: number; runtimeLog: string };

/**
 * Start the supervisor of a detached container (see {@link supervise}) and resolve with its
 * report. Its stdin and stderr are /dev/null and its stdout a pipe it closes after the report:
 * nothing ties it to pd's terminal, and pd may exit (or be killed) at any point.
 */
export function startSupervisor(job: SupervisorJob): Promise<SupervisorReport> {
  const script = `(${supervise.toString()})(${JSON.stringify(job)})`;
  const child = spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'pipe', 'ignore'],
    detached: true,
  });
  child.unref();
  return new Promise((resolve, reject) => {
    let text = '';
    child.once('error', reject);
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString('utf8');
    });
    child.stdout!.once('end', () => {
      try {
        resolve(JSON.parse(text) as SupervisorReport);
      } catch {
        reject(new Error(`the container supervisor ended without a report${text ? `: ${text}` : ''}`));
      }
    });
  });
}
