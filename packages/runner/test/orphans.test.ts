import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { appendLayers, type Layer } from '@pd/image';
import type { Digest } from '@pd/oci-types';
import { archive, dockerHost, type Fixtures, rawEntry } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ContainerRunningError,
  LayerStore,
  listContainers,
  prepareBundle,
  pruneContainers,
  pruneLayers,
  type RunOptions,
  removeContainer,
} from '../src/index.js';
import { childArgs } from './helpers/child.js';
import { dockerSkip, freshCacheDir, pdRun, sharedFixtures, stopFixtures } from './helpers/harness.js';
import { savedArchive, savedImage } from './helpers/saved-image.js';

// Containers never outlive their `pd run` unnoticed, and pruning never touches a running one.
// The runner runs in a process of its own (as `pd run` does), so that it can be killed with
// SIGKILL; the containers are real runc containers running `sleep`.

const skip = dockerSkip();
const STATE = '/run/pd/runc';

/** runc's view of a container: its status and init pid, or undefined when it has no state. */
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

const processGone = (pid: number) => !existsSync(`/proc/${pid}`);

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<number> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

/** The watchdog of container `id` (runtimes/oci.ts): a /bin/sh whose argv names it. */
function watchdogPid(id: string): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv.includes('pd-watchdog') && argv.includes(id)) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

describe.skipIf(skip)('containers and their pd run', () => {
  let fx: Fixtures;
  let small: string;
  let cacheDir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    fx = await sharedFixtures();
    small = await savedArchive(fx.small.local);
    cacheDir = freshCacheDir();
  }, 900_000);
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await pruneContainers({ cacheDir, kept: true }).catch(() => undefined);
    await stopFixtures();
    await rm(cacheDir, { recursive: true, force: true });
  });

  /** `pd run` of a `sleep 300` container named `id`, in a child process; resolves once it runs. */
  async function startSleeper(
    id: string,
    options: RunOptions = {},
  ): Promise<{ child: ChildProcess; pid: number }> {
    const child = spawn(
      process.execPath,
      await childArgs(small, { cacheDir, name: id, args: ['sleep', '300'], ...options }),
      { stdio: 'ignore' },
    );
    children.push(child);
    await until(`${id} to run`, () => runcState(id)?.status === 'running', 60_000);
    return { child, pid: runcState(id)!.pid };
  }

  test('pruning never touches a running container, nor the layers it uses; removeContainer refuses it', async () => {
    const id = 'pd-test-prune-running';
    const { child, pid } = await startSleeper(id, { rm: false, stopTimeout: 1 });
    const [info] = (await listContainers({ cacheDir })).filter((c) => c.id === id);
    expect(info?.state).toBe('running');

    const pruned = await pruneContainers({ cacheDir, kept: true });
    expect(pruned.removed).not.toContain(id);
    expect(pruned.running).toContain(id);
    await expect(removeContainer(id, { cacheDir })).rejects.toBeInstanceOf(ContainerRunningError);
    await pruneLayers({ cacheDir });
    expect((await new LayerStore({ cacheDir }).list()).length).toBeGreaterThan(0);
    expect(runcState(id)?.status).toBe('running');
    expect(processGone(pid)).toBe(false);
    expect(existsSync(join(cacheDir, 'containers', id, 'config.json'))).toBe(true);
    // Bundles (root filesystems with the image's setuid files) are private, like the layers.
    expect(statSync(join(cacheDir, 'containers')).mode & 0o777).toBe(0o700);

    // Once its pd run has ended, the kept container is exited, and goes with --containers only.
    child.kill('SIGTERM');
    await until('the run to end', () => child.exitCode !== null || child.signalCode !== null, 30_000);
    expect((await listContainers({ cacheDir })).find((c) => c.id === id)?.state).toBe('exited');
    expect((await pruneContainers({ cacheDir })).removed).not.toContain(id);
    expect((await pruneContainers({ cacheDir, kept: true })).removed).toContain(id);
    expect(existsSync(join(cacheDir, 'containers', id))).toBe(false);
  });

  test('layers a starting container will use are kept by a prune that runs while it unpacks', async () => {
    const base = await savedImage(fx.small.local);
    await pdRun(base, { cacheDir, args: ['true'] }); // its layers are in the store, used by nobody
    const baseIds = await Promise.all((await base.layers()).map((l) => l.diffId()));
    // A top layer whose unpacking waits until the prune is done.
    const bytes = archive(rawEntry({ name: 'slow.txt' }, 'slow\n'));
    const diffId = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
    let opened!: () => void;
    const isOpened = new Promise<void>((r) => {
      opened = r;
    });
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const slow: Layer = {
      digest: async () => diffId,
      diffId: async () => diffId,
      size: async () => bytes.length,
      mediaType: async () => 'application/vnd.oci.image.layer.v1.tar',
      compressed: async () => Readable.from([bytes]),
      uncompressed: async () => {
        opened();
        await released;
        return Readable.from([bytes]);
      },
    };
    const image = await appendLayers(base, [slow]);
    const preparing = prepareBundle(image, { cacheDir, name: 'pd-test-starting', mountRootfs: false });
    await isOpened;
    await pruneLayers({ cacheDir });
    const left = (await new LayerStore({ cacheDir }).list()).map((l) => l.diffId);
    release();
    const bundle = await preparing;
    expect(left).toEqual(expect.arrayContaining(baseIds));
    expect(bundle.layers.map((l) => l.diffId)).toEqual([...baseIds, diffId]);
    await removeContainer(bundle.id, { cacheDir, force: true });
  });

  test('kill -9 of pd run: the container dies with it, and --rm leaves nothing behind', async () => {
    const id = 'pd-test-kill9-rm';
    const { child, pid } = await startSleeper(id, { rm: true });
    child.kill('SIGKILL');
    const ms = await until(
      'the container to die',
      () => processGone(pid) && runcState(id) === undefined,
      5_000,
    );
    process.stderr.write(`[pd tests] container gone ${ms} ms after pd run was killed\n`);
    await until('the bundle to go', () => !existsSync(join(cacheDir, 'containers', id)), 5_000);
  });

  test('kill -9 of pd run without --rm: the container dies; the kept bundle is exited, pruned with --containers', async () => {
    const id = 'pd-test-kill9-kept';
    const { child, pid } = await startSleeper(id, { rm: false });
    child.kill('SIGKILL');
    await until('the container to die', () => processGone(pid) && runcState(id) === undefined, 5_000);
    expect((await listContainers({ cacheDir })).find((c) => c.id === id)?.state).toBe('exited');
    expect((await pruneContainers({ cacheDir, kept: true })).removed).toContain(id);
    expect(existsSync(join(cacheDir, 'containers', id))).toBe(false);
  });

  test('kill -9 of pd run --runtime docker: the engine does not keep the container running', async () => {
    const id = 'pd-test-kill9-docker';
    const host = dockerHost()!;
    const inspect = () => {
      try {
        return execFileSync('docker', ['-H', host, 'inspect', '--format', '{{.State.Status}}', id], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }).trim();
      } catch {
        return undefined; // no such container
      }
    };
    const child = spawn(
      process.execPath,
      await childArgs(small, {
        cacheDir,
        name: id,
        rm: true,
        runtime: 'docker',
        dockerHost: host,
        args: ['sleep', '300'],
      }),
      { stdio: 'ignore' },
    );
    children.push(child);
    await until(`${id} to run`, () => inspect() === 'running', 60_000);
    child.kill('SIGKILL');
    await until('docker to remove it', () => inspect() === undefined, 15_000);
  });

  test('an orphan (pd run and its watchdog both killed) is listed as such; prune stops and removes it', async () => {
    const id = 'pd-test-orphan';
    const { child, pid } = await startSleeper(id, { rm: true });
    const watchdog = watchdogPid(id);
    expect(watchdog).toBeDefined();
    process.kill(watchdog!, 'SIGKILL');
    child.kill('SIGKILL');
    await until('the runner to die', () => child.signalCode !== null);
    await new Promise((r) => setTimeout(r, 300));
    expect(runcState(id)?.status).toBe('running');
    expect((await listContainers({ cacheDir })).find((c) => c.id === id)?.state).toBe('orphaned');

    const pruned = await pruneContainers({ cacheDir });
    expect(pruned.orphans).toEqual([id]);
    expect(pruned.removed).toContain(id);
    await until('the orphan to die', () => processGone(pid), 5_000);
    expect(runcState(id)).toBeUndefined();
    expect(existsSync(join(cacheDir, 'containers', id))).toBe(false);
  });
});
