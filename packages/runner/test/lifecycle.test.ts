import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Fixtures } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  AmbiguousContainerError,
  ContainerNotFoundError,
  ContainerNotRunningError,
  ContainerRunningError,
  ContainerStartError,
  containerLogs,
  execInContainer,
  inspectContainer,
  killContainer,
  listContainers,
  NoLogError,
  pruneContainers,
  removeContainer,
  startContainer,
  stopContainer,
  waitContainer,
} from '../src/index.js';
import { bundleScript } from './helpers/child.js';
import { freshCacheDir, pdRun, runtimeSkip, sharedFixtures, stopFixtures } from './helpers/harness.js';
import { savedArchive } from './helpers/saved-image.js';

// Detached containers (startContainer) and their lifecycle, with runc on the busybox fixture:
// they outlive the process that started them (even SIGKILLed), their output is logged, exec
// joins their namespaces, stop/kill/wait/rm act on them as docker's commands do.

const skip = runtimeSkip();
const STATE = '/run/pd/runc';

function runcState(id: string): { status: string; pid: number } | undefined {
  try {
    return JSON.parse(
      execFileSync('runc', ['--root', STATE, 'state', id], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ) as { status: string; pid: number };
  } catch {
    return undefined;
  }
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString('utf8');
    cb();
  }
}

async function logsOf(id: string, cacheDir: string, follow = false) {
  const stdout = new Collect();
  const stderr = new Collect();
  await containerLogs(id, { cacheDir, stdout, stderr, follow });
  return { stdout: stdout.text, stderr: stderr.text };
}

async function execOut(
  id: string,
  cmd: string[],
  cacheDir: string,
  options: Parameters<typeof execInContainer>[2] = {},
) {
  const stdout = new Collect();
  const stderr = new Collect();
  const r = await execInContainer(id, cmd, { ...options, cacheDir, stdout, stderr });
  return { ...r, stdout: stdout.text, stderr: stderr.text };
}

describe.skipIf(skip)('detached containers', () => {
  let fx: Fixtures;
  let small: string;
  let cacheDir: string;

  beforeAll(async () => {
    fx = await sharedFixtures();
    small = await savedArchive(fx.small.local);
    cacheDir = freshCacheDir();
  }, 900_000);
  afterAll(async () => {
    for (const c of await listContainers({ cacheDir }).catch(() => []))
      await removeContainer(c.id, { cacheDir, force: true }).catch(() => undefined);
    await stopFixtures();
    await rm(cacheDir, { recursive: true, force: true });
  });

  test('runs in the background, logs both streams, records the exit code; wait returns it', async () => {
    const script = 'echo out; echo err >&2; sleep 1; echo late; exit 3';
    const { id } = await startContainer(small, { cacheDir, args: ['sh', '-c', script] });
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const running = await inspectContainer(id.slice(0, 8), { cacheDir });
    expect(running).toMatchObject({ id, state: 'running', detached: true, image: small });
    expect(running.command).toEqual(['sh', '-c', script]);
    expect(running.exitCode).toBeUndefined();
    // -f follows until the end: "late" comes a second after the start.
    const followed = await logsOf(id, cacheDir, true);
    expect(followed).toEqual({ stdout: 'out\nlate\n', stderr: 'err\n' });
    expect(await waitContainer(id, { cacheDir })).toEqual({ id, exitCode: 3 });
    const exited = (await listContainers({ cacheDir })).find((c) => c.id === id);
    expect(exited).toMatchObject({ state: 'exited', exitCode: 3 });
    expect(await logsOf(id, cacheDir)).toEqual({ stdout: 'out\nlate\n', stderr: 'err\n' });
    await removeContainer(id, { cacheDir });
    expect(existsSync(join(cacheDir, 'containers', id))).toBe(false);
  });

  test('outlives the process that started it, even when that one is killed with SIGKILL', async () => {
    const entry = join(cacheDir, 'start-main.ts');
    await writeFile(
      entry,
      `import { startContainer } from ${JSON.stringify(join(import.meta.dirname, '../src/index.ts'))};\n` +
        'const [input, cacheDir] = process.argv.slice(2);\n' +
        "const r = await startContainer(input, { cacheDir, name: 'pd-test-survivor', args: ['sh', '-c', 'echo started; sleep 300'] });\n" +
        'process.stdout.write(r.id + "\\n");\n' +
        'setInterval(() => {}, 1000);\n',
    );
    const script = await bundleScript(entry);
    const child = spawn(process.execPath, [script, small, cacheDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const id = await new Promise<string>((resolve) =>
      child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
    );
    expect(id).toBe('pd-test-survivor');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    expect(runcState(id)?.status).toBe('running');
    const info = await inspectContainer(id, { cacheDir });
    expect(info.state).toBe('running');
    expect(info.owner?.pid).not.toBe(child.pid); // its supervisor, not the starter
    expect(await logsOf(id, cacheDir)).toEqual({ stdout: 'started\n', stderr: '' });
    await removeContainer(id, { cacheDir, force: true });
    expect(runcState(id)).toBeUndefined();
  });

  test('exec joins the container (its /tmp, its env) and honours -u, -w, -e', async () => {
    const { id } = await startContainer(small, {
      cacheDir,
      name: 'pd-test-exec',
      env: ['FROM_RUN=1'],
      args: ['sh', '-c', 'echo $$ > /tmp/main.pid; sleep 300'],
    });
    const seen = await execOut(
      id,
      ['sh', '-c', 'cat /tmp/main.pid; echo $FROM_RUN $EXTRA; pwd; id -u; id -g'],
      cacheDir,
    );
    expect(seen.exitCode).toBe(0);
    // pid 1: the main process of the same pid namespace; /tmp of the same root filesystem;
    // the container's environment and working directory (the image's WORKDIR, /srv).
    expect(seen.stdout).toBe('1\n1\n/srv\n0\n0\n');
    const as = await execOut(id, ['sh', '-c', 'echo $EXTRA; pwd; id -u; id -g'], cacheDir, {
      user: '1234:5678',
      workdir: '/tmp',
      env: ['EXTRA=yes'],
    });
    expect(as.stdout).toBe('yes\n/tmp\n1234\n5678\n');
    const code = await execOut(id, ['sh', '-c', 'exit 7'], cacheDir);
    expect(code.exitCode).toBe(7);
    const missing = execOut(id, ['/no/such/command'], cacheDir);
    await expect(missing).rejects.toBeInstanceOf(ContainerStartError);
    await expect(missing).rejects.toMatchObject({ exitCode: 126 }); // docker exec's code
    await removeContainer(id, { cacheDir, force: true });
  });

  test('stop sends SIGTERM, then SIGKILL after the timeout; kill sends the signal asked for', async () => {
    const trap = await startContainer(small, {
      cacheDir,
      args: [
        'sh',
        '-c',
        'trap "echo got USR1" USR1; trap "echo got TERM; exit 5" TERM; while :; do sleep 0.1; done',
      ],
    });
    await new Promise((r) => setTimeout(r, 300)); // the traps are set
    await killContainer(trap.id, { cacheDir, signal: 'USR1' });
    await new Promise((r) => setTimeout(r, 500));
    expect((await inspectContainer(trap.id, { cacheDir })).state).toBe('running');
    const t0 = Date.now();
    await stopContainer(trap.id, { cacheDir, timeout: 10 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await waitContainer(trap.id, { cacheDir })).toMatchObject({ exitCode: 5 });
    expect((await logsOf(trap.id, cacheDir)).stdout).toBe('got USR1\ngot TERM\n');
    await expect(killContainer(trap.id, { cacheDir })).rejects.toBeInstanceOf(ContainerNotRunningError);

    // PID 1 without a handler ignores SIGTERM: killed after the timeout, 137 as docker.
    const deaf = await startContainer(small, { cacheDir, args: ['sleep', '300'] });
    const t1 = Date.now();
    await stopContainer(deaf.id, { cacheDir, timeout: 1 });
    const took = Date.now() - t1;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(6000);
    expect(await waitContainer(deaf.id, { cacheDir })).toMatchObject({ exitCode: 137 });
  });

  test('rm refuses a running container without force, and leaves no mount behind', async () => {
    const { id } = await startContainer(small, { cacheDir, args: ['sleep', '300'] });
    await expect(removeContainer(id, { cacheDir })).rejects.toBeInstanceOf(ContainerRunningError);
    const dir = join(cacheDir, 'containers', id);
    await removeContainer(id, { cacheDir, force: true });
    expect(existsSync(dir)).toBe(false);
    expect(runcState(id)).toBeUndefined();
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(id);
    await expect(removeContainer(id, { cacheDir })).rejects.toBeInstanceOf(ContainerNotFoundError);
  });

  test('a start failure rejects as run does; --rm removes the container once it ended', async () => {
    const failed = startContainer(small, { cacheDir, rm: true, args: ['/no/such/command'] });
    await expect(failed).rejects.toMatchObject({ exitCode: 127 });
    const { id } = await startContainer(small, { cacheDir, rm: true, args: ['sh', '-c', 'sleep 0.5'] });
    expect(await waitContainer(id, { cacheDir })).toMatchObject({ exitCode: 0 });
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(join(cacheDir, 'containers', id))).toBe(false);
  });

  test('names and prefixes: ambiguous prefixes are refused; foreground runs have exit codes but no log', async () => {
    const a = await pdRun(small, { cacheDir, rm: false, name: 'pd-test-fg-a', args: ['sh', '-c', 'exit 4'] });
    await pdRun(small, { cacheDir, rm: false, name: 'pd-test-fg-b', args: ['true'] });
    expect(a.exitCode).toBe(4);
    await expect(inspectContainer('pd-test-fg', { cacheDir })).rejects.toBeInstanceOf(
      AmbiguousContainerError,
    );
    expect(await waitContainer('pd-test-fg-a', { cacheDir })).toMatchObject({ exitCode: 4 });
    expect(await inspectContainer('pd-test-fg-a', { cacheDir })).toMatchObject({
      state: 'exited',
      exitCode: 4,
    });
    await expect(logsOf('pd-test-fg-a', cacheDir)).rejects.toBeInstanceOf(NoLogError);
    await pruneContainers({ cacheDir, kept: true });
    await expect(inspectContainer('pd-test-fg-a', { cacheDir })).rejects.toBeInstanceOf(
      ContainerNotFoundError,
    );
  });

  test('its supervisor killed: the container is orphaned while it runs, exited once dead; rm cleans up', async () => {
    const { id } = await startContainer(small, { cacheDir, args: ['sleep', '300'] });
    const supervisor = (await inspectContainer(id, { cacheDir })).owner!.pid;
    process.kill(supervisor, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    expect(runcState(id)?.status).toBe('running');
    expect((await inspectContainer(id, { cacheDir })).state).toBe('orphaned');
    // The container dies with nobody to see it: exited, with no exit code to tell.
    execFileSync('runc', ['--root', STATE, 'kill', id, 'KILL']);
    const t0 = Date.now();
    while ((await inspectContainer(id, { cacheDir })).state !== 'exited') {
      if (Date.now() - t0 > 10_000) throw new Error('never seen as exited');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await inspectContainer(id, { cacheDir })).exitCode).toBeUndefined();
    expect(await waitContainer(id, { cacheDir })).toEqual({ id });
    await removeContainer(id, { cacheDir });
    expect(runcState(id)).toBeUndefined();
    expect(existsSync(join(cacheDir, 'containers', id))).toBe(false);
  });

  test('with tty, the log holds what the terminal showed (one stream, CRLF), as docker logs of -t', async () => {
    const { id } = await startContainer(small, {
      cacheDir,
      tty: true,
      args: ['sh', '-c', 'tty; echo err >&2'],
    });
    expect(await waitContainer(id, { cacheDir })).toMatchObject({ exitCode: 0 });
    expect(await logsOf(id, cacheDir)).toEqual({ stdout: '/dev/pts/0\r\nerr\r\n', stderr: '' });
    await removeContainer(id, { cacheDir });
  });
});
