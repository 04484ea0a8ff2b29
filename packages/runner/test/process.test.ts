import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Fixtures } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { listContainers, type RunOptions, removeContainer } from '../src/index.js';
import { childArgs } from './helpers/child.js';
import { dockerSkip, exec, freshCacheDir, sharedFixtures, stopFixtures } from './helpers/harness.js';
import { savedArchive } from './helpers/saved-image.js';

// The runner in a process of its own, as a user's shell starts it: inherited stdio, signals sent
// to it, a terminal or none. The image is given as a docker-archive path (opened by @pd/image).

const skip = dockerSkip();

/** Unprivileged user namespaces and setpriv are needed to try rootless mode from a root test. */
function rootlessSkip(): string | undefined {
  try {
    execFileSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '--user', '--map-root-user', 'true'],
      {
        stdio: 'ignore',
      },
    );
    return undefined;
  } catch {
    process.stderr.write(
      '[pd tests] skipped: rootless (setpriv, or unprivileged user namespaces, unavailable)\n',
    );
    return 'skipped: rootless';
  }
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

describe.skipIf(skip)('the runner as a process', () => {
  let fx: Fixtures;
  let small: string;
  let cacheDir: string;

  beforeAll(async () => {
    fx = await sharedFixtures();
    small = await savedArchive(fx.small.local);
    cacheDir = freshCacheDir();
  }, 900_000);
  afterAll(async () => {
    await stopFixtures();
    await rm(cacheDir, { recursive: true, force: true });
  });

  async function start(options: RunOptions, stdin: 'pipe' | 'ignore' = 'ignore'): Promise<Started> {
    const child = spawn(process.execPath, await childArgs(small, { cacheDir, ...options }), {
      stdio: [stdin, 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })),
    );
    return { child, output: () => out, exited };
  }

  async function waitFor(s: Started, text: string, ms = 30_000): Promise<void> {
    const until = Date.now() + ms;
    while (!s.output().includes(text)) {
      if (Date.now() > until) throw new Error(`timed out waiting for "${text}"; output: ${s.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  function runcStateIds(): string[] {
    if (!existsSync('/run/pd/runc')) return [];
    return execFileSync('runc', ['--root', '/run/pd/runc', 'list', '-q'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
  }

  test('stdin is piped through: echo hi | pd run -i cat', async () => {
    const r = await exec(
      process.execPath,
      await childArgs(small, { cacheDir, rm: true, interactive: true, args: ['cat'] }),
      {
        input: 'hi\n',
      },
    );
    expect(r.stdout).toBe('hi\n');
    expect(r.exitCode).toBe(0);
  });

  test('exit codes become the process exit code', async () => {
    const r = await exec(
      process.execPath,
      await childArgs(small, { cacheDir, rm: true, args: ['sh', '-c', 'exit 7'] }),
    );
    expect(r.exitCode).toBe(7);
  });

  test('SIGTERM to the runner reaches the container, which decides', async () => {
    const s = await start({
      rm: true,
      name: 'pd-test-term',
      args: ['sh', '-c', 'trap "echo got TERM; exit 42" TERM; echo ready; while :; do sleep 0.1; done'],
    });
    await waitFor(s, 'ready');
    s.child.kill('SIGTERM');
    const { code } = await s.exited;
    expect(s.output()).toContain('got TERM');
    expect(code).toBe(42);
    expect(runcStateIds()).not.toContain('pd-test-term');
    expect(existsSync(join(cacheDir, 'containers', 'pd-test-term'))).toBe(false);
  });

  test('a container that ignores SIGTERM is killed after stopTimeout (exit 137)', async () => {
    const s = await start({ rm: true, stopTimeout: 1, args: ['sh', '-c', 'echo ready; exec sleep 1000'] });
    await waitFor(s, 'ready');
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    const { code } = await s.exited;
    expect(code).toBe(137);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  test('Ctrl-C twice stops the container at once', async () => {
    const s = await start({ rm: true, stopTimeout: 60, args: ['sh', '-c', 'echo ready; exec sleep 1000'] });
    await waitFor(s, 'ready');
    const t0 = Date.now();
    s.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 300));
    s.child.kill('SIGINT');
    const { code } = await s.exited;
    expect(code).toBe(137);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  test('--rm leaves no bundle, no runtime state and no mount', async () => {
    const before = await readdir(join(cacheDir, 'containers')).catch(() => []);
    const r = await exec(
      process.execPath,
      await childArgs(small, {
        cacheDir,
        rm: true,
        name: 'pd-test-rm',
        args: ['sh', '-c', 'echo x > /written; cat /written'],
      }),
    );
    expect(r.stdout).toBe('x\n');
    expect(await readdir(join(cacheDir, 'containers'))).toEqual(before);
    expect(runcStateIds()).not.toContain('pd-test-rm');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(cacheDir);
  });

  test('without --rm the container (and its writes) is kept until removed', async () => {
    const r = await exec(
      process.execPath,
      await childArgs(small, { cacheDir, name: 'pd-test-keep', args: ['sh', '-c', 'echo kept > /note'] }),
    );
    expect(r.exitCode).toBe(0);
    const kept = (await listContainers({ cacheDir })).find((c) => c.id === 'pd-test-keep');
    expect(kept).toBeDefined();
    expect(readFileSync(join(kept!.dir, 'upper', 'note'), 'utf8')).toBe('kept\n');
    const again = await exec(
      process.execPath,
      await childArgs(small, { cacheDir, name: 'pd-test-keep', args: ['true'] }),
    );
    expect(again.stderr).toContain('already exists');
    await removeContainer('pd-test-keep', { cacheDir });
    expect(existsSync(kept!.dir)).toBe(false);
  });

  test('-t with a terminal: the runtime uses it (pty allocated by `script` here, as a shell would have)', async () => {
    const args = await childArgs(small, {
      cacheDir,
      rm: true,
      tty: true,
      args: ['sh', '-c', 'tty; test -t 0 && test -t 1 && echo both-tty; stty size'],
    });
    const line = [process.execPath, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
    const r = await exec('script', ['-qefc', line, '/dev/null'], {
      env: { ...process.env, SHELL: '/bin/sh', PD_CHILD_VERBOSE: '1' },
    });
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+\r?\n/);
    expect(r.stdout).toContain('both-tty');
    // The runtime was handed pd's own terminal, not a pty of pd's making.
    expect(r.stdout).toMatch(/\[pd\] exec \S*(runc|unshare) /);
    expect(r.stdout).not.toMatch(/\[pd\] exec \S*script /);
  });

  test('-t without a terminal: pd provides one', async () => {
    const r = await exec(
      process.execPath,
      await childArgs(small, { cacheDir, rm: true, tty: true, args: ['sh', '-c', 'tty; exit 3'] }),
      { env: { ...process.env, PD_CHILD_VERBOSE: '1' } },
    );
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+\r?\n/);
    expect(r.stderr).toMatch(/\[pd\] exec \S*script /);
    expect(r.exitCode).toBe(3);
  });

  test('-it: an interactive shell on a terminal', async () => {
    const r = await exec(
      process.execPath,
      await childArgs(small, { cacheDir, rm: true, tty: true, interactive: true, args: ['sh'] }),
      { input: 'echo hello-$((6*7))\nexit 4\n' },
    );
    expect(r.stdout).toContain('hello-42');
    expect(r.exitCode).toBe(4);
  });

  describe.skipIf(rootlessSkip())('rootless (as nobody, through a user namespace)', () => {
    async function asNobody(options: RunOptions) {
      const dir = await mkdtemp(join(tmpdir(), 'pd-rootless-'));
      await chmod(dir, 0o755);
      const [script, json] = await childArgs(small, options);
      await copyFile(script!, join(dir, 'child.mjs'));
      await copyFile(small, join(dir, 'image.tar'));
      await chmod(join(dir, 'image.tar'), 0o644);
      await chmod(join(dir, 'child.mjs'), 0o644);
      await mkdir(join(dir, 'cache'));
      await chown(join(dir, 'cache'), 65534, 65534);
      const parsed = JSON.parse(json!) as { options: RunOptions };
      try {
        return await exec('setpriv', [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          'env',
          `HOME=${dir}`,
          `PD_CACHE_DIR=${join(dir, 'cache')}`,
          'PD_CHILD_VERBOSE=1',
          process.execPath,
          join(dir, 'child.mjs'),
          JSON.stringify({
            input: join(dir, 'image.tar'),
            options: { ...parsed.options, cacheDir: join(dir, 'cache') },
          }),
        ]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }

    test('root inside is the caller outside; the rootfs is copied; loopback only', async () => {
      const r = await asNobody({
        rm: true,
        args: [
          'sh',
          '-c',
          'id; cat /proc/self/uid_map; cat /hello.txt; cut -d: -f1 /proc/net/dev | tail -n +3; exit 4',
        ],
      });
      expect(r.stdout).toBe(
        `uid=0(root) gid=0(root)\n         0      65534          1\n${fx.small.files['/hello.txt']}    lo\n`,
      );
      expect(r.stderr).toContain('rootfs: copy');
      expect(r.exitCode).toBe(4);
    });

    test('another user than root cannot be mapped', async () => {
      const r = await asNobody({ rm: true, user: 'app', args: ['id'] });
      expect(r.stderr).toContain('not possible without root');
      expect(r.exitCode).toBe(125);
    });
  });
});
