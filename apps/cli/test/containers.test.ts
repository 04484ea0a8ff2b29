import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  dockerHost,
  dockerMissing,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  runcMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, PD_MAIN, pd } from './helpers.js';

// pd run -d, ps, logs, exec, stop, kill, wait, rm against docker's same commands on the same
// busybox fixture image: real runc containers on one side, the test Docker engine on the other.

const missing = registryMissing() ?? dockerMissing() ?? runcMissing();
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

/** `docker -H <test engine> args...`, whatever its exit code. */
function docker(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['-H', dockerHost()!, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(missing)('container lifecycle: pd vs docker', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  const iso = isolatedEnv();
  const dockerNames: string[] = [];
  const run = (args: string[]) => pd(args, { env: iso.env, cwd: iso.dir, timeout: 120_000 });
  /** `docker run -d` and `pd run -d` of the same command, named `name` on both sides. */
  async function both(name: string, args: string[], flags: string[] = []) {
    dockerNames.push(name);
    const [p, d] = await Promise.all([
      run(['run', '-d', '--name', name, ...flags, fx.small.ref, ...args]),
      docker(['run', '-d', '--network', 'none', '--name', name, ...flags, fx.small.local, ...args]),
    ]);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect(d.code).toBe(0);
    return { pd: p, docker: d };
  }

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
  }, 600_000);
  afterAll(async () => {
    for (const name of dockerNames) await docker(['rm', '-f', name]);
    const ids = (await run(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await run(['rm', '-f', ...ids]);
    await registry?.stop();
    iso.cleanup();
  });

  it('run -d prints the id; logs, wait and ps -a then say what docker says', async () => {
    const script = 'echo out; echo err >&2; sleep 1; echo late; exit 3';
    // Unnamed on the pd side too: the id is 64 hex digits, as docker's.
    const [p, d] = await Promise.all([
      run(['run', '-d', fx.small.ref, 'sh', '-c', script]),
      docker(['run', '-d', '--network', 'none', fx.small.local, 'sh', '-c', script]),
    ]);
    const id = p.stdout.trim();
    const did = d.stdout.trim();
    dockerNames.push(did);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(did).toMatch(/^[0-9a-f]{64}$/);
    const ps = await run(['ps']);
    expect(ps.stdout.split('\n')[0]).toMatch(/^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +NAMES$/);
    expect(ps.stdout).toMatch(new RegExp(`^${id.slice(0, 12)} .* Up .*`, 'm'));
    // -f follows until the end: "late" comes after a second.
    const [pl, dl] = await Promise.all([run(['logs', '-f', id.slice(0, 10)]), docker(['logs', '-f', did])]);
    expect(pl.stdout).toBe(dl.stdout);
    expect(pl.stderr).toBe(dl.stderr);
    expect(pl.stdout).toBe('out\nlate\n');
    const [pw, dw] = await Promise.all([run(['wait', id]), docker(['wait', did])]);
    expect(pw.stdout).toBe(dw.stdout);
    expect(pw.stdout).toBe('3\n');
    const [pa, da] = await Promise.all([
      run(['ps', '-a', '--json']),
      docker(['ps', '-a', '--filter', `id=${did}`, '--format', '{{.Status}}']),
    ]);
    const mine = (
      JSON.parse(pa.stdout) as Array<{ id: string; status: string; state: string; exitCode: number }>
    ).find((c) => c.id === id)!;
    expect(mine).toMatchObject({ state: 'exited', exitCode: 3 });
    expect(mine.status.replace(/\) .*/, ')')).toBe(da.stdout.trim().replace(/\) .*/, ')')); // "Exited (3)"
    expect((await run(['ps'])).stdout).not.toContain(id.slice(0, 12));
  });

  it('a detached container keeps running after pd is killed with SIGKILL while starting it', async () => {
    const child = spawn(
      process.execPath,
      ['--', PD_MAIN, 'run', '-d', '--name', 'survivor', fx.small.ref, 'sleep', '300'],
      {
        env: iso.env,
        stdio: 'ignore',
      },
    );
    const t0 = Date.now();
    while (runcState('survivor')?.status !== 'running') {
      if (Date.now() - t0 > 60_000) throw new Error('the container never ran');
      await sleep(10);
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await sleep(1000);
    expect(runcState('survivor')?.status).toBe('running');
    const ps = await run(['ps', '--json']);
    expect(
      (JSON.parse(ps.stdout) as Array<{ id: string; state: string }>).find((c) => c.id === 'survivor')?.state,
    ).toBe('running');
    expect((await run(['rm', '-f', 'survivor'])).code).toBe(0);
    expect(runcState('survivor')).toBeUndefined();
  });

  it('exec runs in the container’s namespaces with -u, -w, -e as docker exec', async () => {
    await both('pd-lc-exec', ['sh', '-c', 'echo main > /tmp/main; sleep 300']);
    await sleep(300);
    // The main process's /tmp, and its pid namespace (pid 1 is the main process).
    const probe = ['sh', '-c', 'cat /tmp/main; id -u; id -g; pwd; echo "$X"; cat /proc/1/comm'];
    const [p, d] = await Promise.all([
      run(['exec', '-u', '1234:5678', '-w', '/tmp', '-e', 'X=1', 'pd-lc-exec', ...probe]),
      docker(['exec', '-u', '1234:5678', '-w', '/tmp', '-e', 'X=1', 'pd-lc-exec', ...probe]),
    ]);
    expect(p.stderr).toBe(d.stderr);
    expect(p.stdout).toBe(d.stdout);
    expect(p.stdout).toBe('main\n1234\n5678\n/tmp\n1\nsleep\n'); // busybox sh execs its last command
    const [pc, dc] = await Promise.all([
      run(['exec', 'pd-lc-exec', 'sh', '-c', 'exit 7']),
      docker(['exec', 'pd-lc-exec', 'sh', '-c', 'exit 7']),
    ]);
    expect(pc.code).toBe(dc.code);
    expect(pc.code).toBe(7);
    const [pn, dn] = await Promise.all([
      run(['exec', 'pd-lc-exec', '/no/such']),
      docker(['exec', 'pd-lc-exec', '/no/such']),
    ]);
    expect(pn.code).toBe(dn.code); // 126: docker exec's code for any command it cannot start
    expect(pn.stderr).toMatch(/^pd: runc could not start the container: .*\/no\/such/m);
  });

  it('kill -s delivers the signal; stop sends SIGTERM, then SIGKILL after -t', async () => {
    const trap = 'trap "echo got USR1" USR1; trap "echo got TERM; exit 5" TERM; while :; do sleep 0.1; done';
    await both('pd-lc-trap', ['sh', '-c', trap]);
    await sleep(500);
    const [pk, dk] = await Promise.all([
      run(['kill', '-s', 'USR1', 'pd-lc-trap']),
      docker(['kill', '-s', 'USR1', 'pd-lc-trap']),
    ]);
    expect(pk.stdout).toBe(dk.stdout);
    await sleep(500);
    const [ps, ds] = await Promise.all([run(['stop', 'pd-lc-trap']), docker(['stop', 'pd-lc-trap'])]);
    expect(ps.stdout).toBe(ds.stdout);
    const [pl, dl] = await Promise.all([run(['logs', 'pd-lc-trap']), docker(['logs', 'pd-lc-trap'])]);
    expect(pl.stdout).toBe(dl.stdout);
    expect(pl.stdout).toBe('got USR1\ngot TERM\n');
    const [pw, dw] = await Promise.all([run(['wait', 'pd-lc-trap']), docker(['wait', 'pd-lc-trap'])]);
    expect(pw.stdout).toBe(dw.stdout);
    expect(pw.stdout).toBe('5\n');
    // kill of a container that is not running fails on both sides.
    const [pk2, dk2] = await Promise.all([run(['kill', 'pd-lc-trap']), docker(['kill', 'pd-lc-trap'])]);
    expect(pk2.code).not.toBe(0);
    expect(dk2.code).not.toBe(0);

    // PID 1 without a handler ignores SIGTERM: killed after -t seconds, 137.
    await both('pd-lc-deaf', ['sleep', '300']);
    const t0 = Date.now();
    const [pd1, dd1] = await Promise.all([
      run(['stop', '-t', '2', 'pd-lc-deaf']),
      docker(['stop', '-t', '2', 'pd-lc-deaf']),
    ]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
    expect(pd1.code).toBe(dd1.code);
    const [pw1, dw1] = await Promise.all([run(['wait', 'pd-lc-deaf']), docker(['wait', 'pd-lc-deaf'])]);
    expect(pw1.stdout).toBe(dw1.stdout);
    expect(pw1.stdout).toBe('137\n');
  });

  it('rm refuses a running container without -f, and leaves no mount behind', async () => {
    await both('pd-lc-rm', ['sleep', '300']);
    const [pr, dr] = await Promise.all([run(['rm', 'pd-lc-rm']), docker(['rm', 'pd-lc-rm'])]);
    expect(dr.code).not.toBe(0);
    expect(pr.code).toBe(1);
    expect(pr.stderr).toMatch(/^pd: container "pd-lc-rm" is running/);
    const [pf, df] = await Promise.all([run(['rm', '-f', 'pd-lc-rm']), docker(['rm', '-f', 'pd-lc-rm'])]);
    expect(pf.stdout).toBe(df.stdout);
    expect(runcState('pd-lc-rm')).toBeUndefined();
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(iso.dir);
    expect((await run(['ps', '-a'])).stdout).not.toContain('pd-lc-rm');
    const gone = await run(['rm', 'pd-lc-rm']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^pd: no container named "pd-lc-rm"/);
  });

  it('limits, capabilities, no-new-privileges and tmpfs are what docker gives the container', async () => {
    // cgroup v1 (one hierarchy per controller) or v2 (one for all): whichever the host has.
    const probe = [
      'sh',
      '-c',
      'for f in memory/memory.limit_in_bytes memory.max pids/pids.max pids.max cpu/cpu.cfs_quota_us cpu.max; do' +
        ' [ -f /sys/fs/cgroup/$f ] && echo "$f $(cat /sys/fs/cgroup/$f)"; done;' +
        ' grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; grep " /scratch " /proc/mounts',
    ];
    const flags = [
      '--memory',
      '64m',
      '--cpus',
      '0.5',
      '--pids-limit',
      '50',
      '--cap-drop',
      'ALL',
      '--cap-add',
      'NET_ADMIN',
      '--security-opt',
      'no-new-privileges',
      '--tmpfs',
      '/scratch:size=1m',
    ];
    const [p, d] = await Promise.all([
      run(['run', '--rm', ...flags, fx.small.ref, ...probe]),
      docker(['run', '--rm', '--network', 'none', ...flags, fx.small.local, ...probe]),
    ]);
    expect(p.stderr).toBe('');
    expect(p.stdout).toBe(d.stdout);
    expect(p.stdout).toMatch(/^(memory\/memory\.limit_in_bytes|memory\.max) 67108864$/m);
    expect(p.stdout).toMatch(/^pids(\/pids)?\.max 50$/m);
    expect(p.stdout).toMatch(/^CapEff:\t0000000000001000$/m); // CAP_NET_ADMIN alone
    expect(p.stdout).toMatch(/^NoNewPrivs:\t1$/m);
    expect(p.stdout).toMatch(/^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k /m);
    const bad = await run(['run', '--rm', '--memory', 'lots', fx.small.ref, 'true']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^pd: invalid --memory: "lots"/);
  });
});
