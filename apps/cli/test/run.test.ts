import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  dockerHost,
  dockerMissing,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  runcMissing,
  startRegistry,
  which,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, isolatedEnv, PD_MAIN, pd } from './helpers.js';

const missing = registryMissing() ?? dockerMissing() ?? runcMissing();

describe.skipIf(missing)('pd run and pd cache, with runc and the real registry', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  const iso = isolatedEnv();
  const run = (args: string[], input?: string) =>
    pd(args, { env: iso.env, cwd: iso.dir, timeout: 120_000, ...(input !== undefined ? { input } : {}) });

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
    mkdirSync(join(iso.dir, 'vol'));
    writeFileSync(join(iso.dir, 'vol', 'in.txt'), 'from the host\n');
    writeFileSync(join(iso.dir, 'env.list'), '# comment\nFROM_FILE=yes\n');
  });
  afterAll(async () => {
    await registry?.stop();
    iso.cleanup();
  });

  it('passes output through and exits with the container’s exit code', async () => {
    const ok = await run(['run', '--rm', fx.small.ref, 'cat', '/hello.txt']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(fx.small.files['/hello.txt']);
    expect(ok.stderr).toBe('');
    const three = await run([
      'run',
      '--rm',
      fx.small.ref,
      '--',
      'sh',
      '-c',
      'echo out; echo err >&2; exit 3',
    ]);
    expect(three.code).toBe(3);
    expect(three.stdout).toBe('out\n');
    expect(three.stderr).toBe('err\n');
  });

  it('--insecure reaches a plain-HTTP registry that is not on loopback; without it, refused', async () => {
    // The same registry under its IPv4-mapped IPv6 name: not a loopback *name*, so HTTPS only by default.
    const remote = `[::ffff:7f00:1]:${registry.port}/fixtures/small:latest`;
    expect(fx.small.ref).toBe(`${registry.host}/fixtures/small:latest`);
    const refused = await run(['run', '--rm', remote, 'true']);
    expect(refused.code).toBe(1);
    const ok = await run(['run', '--insecure', '--rm', remote, 'cat', '/hello.txt']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(fx.small.files['/hello.txt']);
  });

  it('maps env, env files, workdir, user, volumes, entrypoint and read-only as docker does', async () => {
    const r = await run([
      'run',
      '--rm',
      '-e',
      'A=1',
      '--env-file',
      join(iso.dir, 'env.list'),
      '-w',
      '/tmp/work',
      '-u',
      '1000:1000',
      '-v',
      `${join(iso.dir, 'vol')}:/data:ro`,
      '--read-only',
      '--entrypoint',
      '/bin/sh',
      fx.small.ref,
      '-c',
      'echo $A $FROM_FILE $(pwd) $(id -u):$(id -g); cat /data/in.txt; touch /data/x 2>/dev/null || echo ro-volume; touch /etc/x 2>/dev/null || echo ro-root',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1 yes /tmp/work 1000:1000\nfrom the host\nro-volume\nro-root\n');
  });

  it('-i connects stdin; --network none leaves only loopback', async () => {
    expect((await run(['run', '-i', '--rm', fx.small.ref, 'cat'], 'piped in\n')).stdout).toBe('piped in\n');
    const net = await run(['run', '--rm', '--network', 'none', fx.small.ref, 'cat', '/proc/net/dev']);
    const ifaces = net.stdout
      .split('\n')
      .slice(2)
      .filter(Boolean)
      .map((l) => l.trim().split(':')[0]);
    expect(ifaces).toEqual(['lo']);
  });

  it.skipIf(!which('script'))('-t gives the container a terminal', () => {
    const cmd = `node ${PD_MAIN} run -t --rm ${fx.small.ref} sh -c 'test -t 0 && test -t 1 && echo has-a-tty'`;
    const out = execFileSync('script', ['-qec', cmd, '/dev/null'], {
      encoding: 'utf8',
      env: iso.env,
      timeout: 120_000,
    });
    expect(out).toContain('has-a-tty');
  });

  it('--runtime docker runs through the engine', async () => {
    const r = await pd(['run', '--rm', '--runtime', 'docker', fx.small.ref, 'cat', '/hello.txt'], {
      env: { ...iso.env, DOCKER_HOST: dockerHost() },
      timeout: 120_000,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(fx.small.files['/hello.txt']);
  });

  it('kept containers and cached layers show in cache ls and go with cache prune', async () => {
    const kept = await run(['run', '--name', 'pd-cli-kept', fx.small.ref, 'true']);
    expect(kept.code).toBe(0);
    const ls = JSON.parse((await run(['cache', 'ls', '--json'])).stdout) as {
      dir: string;
      blobs: Array<{ digest: string; size: number; lastUsed: string }>;
      layers: Array<{ diffId: string; bytes: number; entries: number; unpackedAt: string }>;
      containers: Array<{ id: string; rootfs: string; created: string; state: string }>;
    };
    expect(ls.dir).toBe(iso.env.PD_CACHE_DIR);
    expect(ls.containers.map((c) => [c.id, c.state])).toContainEqual(['pd-cli-kept', 'exited']);
    expect(ls.layers.map((l) => l.diffId)).toEqual(
      expect.arrayContaining(fx.small.layers.map((l) => l.diffId)),
    );
    expect(ls.blobs.length).toBeGreaterThan(0);
    const text = await run(['cache', 'ls']);
    expect(text.stdout).toMatch(/^containers: 1\n {2}pd-cli-kept {2}exited /m);

    const dry = JSON.parse((await run(['cache', 'prune', '--dry-run', '--json'])).stdout) as {
      dryRun: boolean;
      blobs: { wouldRemove: Array<{ digest: string; size: number }>; wouldFree: number };
    };
    // Said as what would go, not as "removed": nothing was.
    expect(dry).not.toHaveProperty('blobs.removed');
    expect(dry.dryRun).toBe(true);
    expect(dry.blobs.wouldRemove.map((b) => b.digest).sort()).toEqual(ls.blobs.map((b) => b.digest).sort());
    expect(dry.blobs.wouldFree).toBe(ls.blobs.reduce((n, b) => n + b.size, 0));
    expect(JSON.parse((await run(['cache', 'ls', '--json'])).stdout).blobs).toHaveLength(ls.blobs.length);

    const pruned = JSON.parse((await run(['cache', 'prune', '--containers', '--json'])).stdout);
    expect(pruned).toEqual({
      blobs: { removed: ls.blobs.length, freed: expect.any(Number), kept: 0 },
      layers: { removed: ls.layers.length },
      containers: { removed: 1, orphans: 0, running: 0 },
      locations: { removed: 0 },
    });
    const after = JSON.parse((await run(['cache', 'ls', '--json'])).stdout);
    expect(after).toMatchObject({ blobs: [], layers: [], containers: [] });
  });

  describe('bad input', () => {
    const cases: Array<[string, () => string[], number, RegExp]> = [
      ['no image', () => ['run', '--rm'], 2, /^pd: missing argument IMAGE$/],
      [
        'an unknown runtime',
        () => ['run', '--runtime', 'podman', fx.small.ref],
        2,
        /^pd: option --runtime must be one of runc, crun, docker$/,
      ],
      [
        'an unknown host',
        () => ['run', '--rm', 'registry.invalid/app:1'],
        1,
        /^pd: cannot resolve registry host registry\.invalid \(/,
      ],
      [
        'a missing tag',
        () => ['run', '--rm', `${registry.host}/fixtures/small:nope`],
        1,
        /^pd: manifest .* not found .*\(check the tag or digest/,
      ],
      [
        'never pulled with --pull never',
        () => ['run', '--rm', '--pull', 'never', `${registry.host}/fixtures/layered:latest`],
        1,
        /^pd: image .* is not available locally: .* \(.*--pull/,
      ],
      [
        'a bad volume',
        () => ['run', '--rm', '-v', 'relative:/x', fx.small.ref, 'true'],
        1,
        /^pd: .*relative.* \(.+\)$/,
      ],
      [
        'a missing command (127, as docker)',
        () => ['run', '--rm', fx.small.ref, '/no/such/cmd'],
        127,
        /^pd: .*\/no\/such\/cmd.* \(.+\)$/,
      ],
      [
        'an unknown user',
        () => ['run', '--rm', '-u', 'nobody-here', fx.small.ref, 'true'],
        1,
        /^pd: unable to find user nobody-here: .* \(give a user/,
      ],
    ];
    it.concurrent.each(cases)('%s', async (_name, args, code, message) => {
      const r = await run(args());
      expect(r.code).toBe(code);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      // runc may print its own line first; pd's is the last one, or the first for usage errors.
      expect(code === 2 ? lines[0] : lines.at(-1)).toMatch(message);
      expect(hasStackTrace(r.stderr)).toBe(false);
    });
  });
});
