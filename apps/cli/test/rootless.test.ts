import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  docker,
  dockerMissing,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  runcMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMIT_SCRIPT, dockerCommitted, RUN_STEP } from './changes.js';
import { isolatedEnv, PD_BUNDLE, pd } from './helpers.js';
import { describeEntries, dockerFilesystem } from './tree.js';

/** The unprivileged user .ci/run creates, with ranges in /etc/subuid and /etc/subgid. */
const USER = 'pdrootless';

function subordinate(file: string): { start: number; size: number } | undefined {
  const line = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${USER}:`))
    : undefined;
  if (!line) return undefined;
  const [, start, size] = line.split(':');
  return { start: Number(start), size: Number(size) };
}

function rootlessMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'skipped: rootless (the test switches to another user, as root)';
  const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  if (
    !has('id', [USER]) ||
    !has('sh', ['-c', 'command -v setpriv && command -v newuidmap && command -v newgidmap'])
  )
    return `skipped: rootless (user ${USER}, setpriv or newuidmap missing: .ci/run sets them up)`;
  if (!subordinate('/etc/subuid') || !subordinate('/etc/subgid'))
    return `skipped: rootless (${USER} has no range in /etc/subuid or /etc/subgid)`;
  return undefined;
}

const missing = registryMissing() ?? dockerMissing() ?? runcMissing() ?? rootlessMissing();
if (missing) process.stderr.write(`[pd tests] ${missing}\n`);

/**
 * pd as an unprivileged user: containers in a user namespace mapping the user to root and its
 * /etc/subuid range to the other ids, layers unpacked with their owners, changes committed and
 * run: steps built, each compared with docker doing the same as root.
 */
describe.skipIf(missing)('rootless, as an unprivileged user with subordinate ids', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  const iso = isolatedEnv();
  // The user's own corner: the bundle (self-contained) and a cache it owns.
  const home = join(iso.dir, 'rootless');
  const script = join(home, 'pd.mjs');
  const env = { PATH: process.env.PATH, HOME: home, PD_CACHE_DIR: join(home, 'cache') };
  const as = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    pd(args, { env: { ...env, ...extra }, script, user: USER, cwd: home, timeout: 300_000 });

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
    chmodSync(iso.dir, 0o755);
    mkdirSync(home);
    copyFileSync(PD_BUNDLE, script);
    chmodSync(script, 0o755);
    const [uid, gid] = ['-u', '-g'].map((f) => Number(execFileSync('id', [f, USER], { encoding: 'utf8' })));
    chownSync(home, uid!, gid!);
  }, 600_000);
  afterAll(async () => {
    await docker(['rm', '-f', 'pd-rootless-commit']).catch(() => undefined);
    await docker(['rmi', '-f', 'pd-rootless-commit:docker', 'pd-rootless-step:docker']).catch(
      () => undefined,
    );
    await as(['rm', '-f', 'rl']).catch(() => undefined);
    await registry?.stop();
    // What the user's containers made belongs to its subordinate ids: root removes it all.
    iso.cleanup();
  });

  it('runs in a namespace with the subordinate ranges; pd commit equals docker commit; pd rm removes it all', async () => {
    const sub = subordinate('/etc/subuid')!;
    let r = await as([
      'run',
      '--name',
      'rl',
      fx.layered.ref,
      'sh',
      '-c',
      `cat /proc/self/uid_map && ${COMMIT_SCRIPT}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const uid = execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim();
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/)),
    ).toEqual([
      ['0', uid, '1'],
      ['1', String(sub.start), String(sub.size)],
    ]);
    const to = `${registry.host}/rootless/commit:1`;
    r = await as(['commit', 'rl', '-t', to]);
    expect(r.code, r.stderr).toBe(0);

    const committed = await dockerCommitted(fx.layered.local, COMMIT_SCRIPT, 'pd-rootless-commit');
    const pdTree = join(iso.dir, 'pd-tree');
    r = await pd(['export', to, pdTree], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(describeEntries(pdTree)).toEqual(await dockerFilesystem(committed, join(iso.dir, 'docker-tree')));

    // The container's files belong to subordinate ids (etc/new to container uid 1000): pd rm
    // removes them through the user namespace, leaving nothing behind.
    const bundle = join(env.PD_CACHE_DIR, 'containers', 'rl');
    expect(existsSync(join(bundle, 'upper', 'etc', 'new'))).toBe(true);
    r = await as(['rm', 'rl']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(bundle)).toBe(false);
  });

  it('a user of the image runs as itself, also detached; a run: step builds what a Dockerfile RUN builds', async () => {
    let r = await as([
      'run',
      '--rm',
      '-u',
      '1000:1000',
      fx.layered.ref,
      'sh',
      '-c',
      'id -u; id -g; touch /tmp/mine && stat -c %u /tmp/mine',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1000\n1000\n1000\n');

    // Detached, it outlives the pd that started it; exec, stop, wait and rm reach it.
    r = await as([
      'run',
      '-d',
      '--name',
      'rld',
      fx.layered.ref,
      'sh',
      '-c',
      'trap "exit 7" TERM; while :; do sleep 0.1; done',
    ]);
    expect(r.code, r.stderr).toBe(0);
    r = await as([
      'exec',
      '-u',
      'app',
      'rld',
      'sh',
      '-c',
      'id -un; touch /home/app/x && stat -c %U /home/app/x',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('app\napp\n');
    expect((await as(['stop', '-t', '5', 'rld'])).code).toBe(0);
    expect((await as(['wait', 'rld'])).stdout).toBe('7\n');
    expect((await as(['rm', 'rld'])).code).toBe(0);
    expect(existsSync(join(env.PD_CACHE_DIR, 'containers', 'rld'))).toBe(false);

    const dir = join(home, 'app');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'pd.yaml'),
      [`base: ${fx.layered.ref}`, 'run:', `  - ${JSON.stringify(RUN_STEP)}`, ''].join('\n'),
    );
    const to = `${registry.host}/rootless/step:1`;
    const sde = { SOURCE_DATE_EPOCH: '1700000000' };
    r = await as(['build', dir, '-t', to], sde);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/run 1\/1: echo built/);
    await docker(['build', '--network', 'none', '-t', 'pd-rootless-step:docker', '-'], {
      input: `FROM ${fx.layered.local}\nRUN ${RUN_STEP}\n`,
    });
    const pdTree = join(iso.dir, 'step-tree');
    r = await pd(['export', to, pdTree], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(describeEntries(pdTree)).toEqual(
      await dockerFilesystem('pd-rootless-step:docker', join(iso.dir, 'step-docker-tree')),
    );
    r = await as(['build', dir, '-t', `${registry.host}/rootless/step:2`], sde);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/run 1\/1 \(cached\)/);

    // The layers it unpacked hold files of subordinate ids; pruning removes them all.
    r = await as(['cache', 'prune']);
    expect(r.code, r.stderr).toBe(0);
    expect(
      execFileSync('find', [join(env.PD_CACHE_DIR, 'layers'), '-mindepth', '2'], { encoding: 'utf8' }),
    ).toBe('');
  });
});
