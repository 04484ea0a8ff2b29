import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Fixtures } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { UserNotFoundError } from '../src/index.js';
import {
  dockerRun,
  dockerSkip,
  freshCacheDir,
  normaliseHostname,
  pdRun,
  sharedFixtures,
  stopFixtures,
} from './helpers/harness.js';
import { type SavedImage, savedImage } from './helpers/saved-image.js';

// pd run against `docker run --network none` on the same images (the fixtures of
// @pd/test-fixtures, built by docker from local files). Outputs must be equal; the only thing
// normalised is HOSTNAME / `hostname`, which is each container's own id in both.

const skip = dockerSkip();

describe.skipIf(skip)('pd run matches docker run', () => {
  let fx: Fixtures;
  let small: SavedImage;
  let layered: SavedImage;
  let withUser: SavedImage;
  let cacheDir: string;
  let work: string;

  beforeAll(async () => {
    fx = await sharedFixtures();
    [small, layered, withUser] = await Promise.all([
      savedImage(fx.small.local),
      savedImage(fx.layered.local),
      savedImage(fx.withUser.local),
    ]);
    cacheDir = freshCacheDir();
    work = await mkdtemp(join(tmpdir(), 'pd-runner-parity-'));
  }, 900_000);
  afterAll(async () => {
    await stopFixtures();
    await rm(cacheDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  async function both(image: SavedImage, local: string, args: string[], flags: string[] = [], opts = {}) {
    const [pd, dk] = await Promise.all([
      pdRun(image, { cacheDir, args, ...opts }),
      dockerRun(local, args, flags),
    ]);
    return { pd, dk };
  }

  test('the image default command (cat of a file)', async () => {
    const { pd, dk } = await both(small, fx.small.local, []);
    expect(dk.exitCode).toBe(0);
    expect(pd.exitCode).toBe(0);
    expect(pd.stdout).toBe(dk.stdout);
    expect(pd.stdout).toBe(fx.small.files['/hello.txt']);
  });

  test('env: image variables, PATH, HOSTNAME, HOME in the same order', async () => {
    const { pd, dk } = await both(small, fx.small.local, ['env']);
    expect(normaliseHostname(pd.stdout)).toBe(normaliseHostname(dk.stdout));
    expect(pd.stdout).toMatch(/^HOSTNAME=[0-9a-f]{12}$/m);
  });

  test('env with -e and --env-file overriding the image', async () => {
    const file = join(work, 'env-file');
    await writeFile(file, '# comment\n  FROM_FILE=1\nGREETING=from-file\nQUOTED="q"\n\n');
    const flags = ['--env-file', file, '-e', 'GREETING=from-e', '-e', 'EXTRA=x=y'];
    const { pd, dk } = await both(small, fx.small.local, ['env'], flags, {
      envFiles: [file],
      env: ['GREETING=from-e', 'EXTRA=x=y'],
    });
    expect(normaliseHostname(pd.stdout)).toBe(normaliseHostname(dk.stdout));
    expect(pd.stdout).toContain('GREETING=from-e\n');
  });

  test('id and pwd under the image USER and WORKDIR, through the ENTRYPOINT', async () => {
    const { pd, dk } = await both(withUser, fx.withUser.local, []);
    expect(pd.stdout).toBe(dk.stdout);
    expect(pd.stdout).toContain('entrypoint as 1000:1000 in /home/app');
    expect(pd.stdout).toContain('groups=50(staff),1000(app)');
  });

  test.each([['app'], ['app:staff'], ['1000'], ['1000:50'], ['4242'], ['root'], ['app:4000']])(
    '-u %s resolves like docker',
    async (user) => {
      const { pd, dk } = await both(small, fx.small.local, ['id'], ['-u', user], { user });
      expect(dk.exitCode).toBe(0);
      expect(pd.stdout).toBe(dk.stdout);
    },
  );

  test('-u with an unknown name fails before anything runs', async () => {
    const dk = await dockerRun(fx.small.local, ['id'], ['-u', 'nobody']);
    expect(dk.exitCode).toBe(125);
    expect(dk.stderr).toContain('unable to find user nobody');
    await expect(pdRun(small, { cacheDir, args: ['id'], user: 'nobody' })).rejects.toThrow(UserNotFoundError);
  });

  test('pwd: the image WORKDIR, -w, and a -w that does not exist yet', async () => {
    for (const [flags, opts] of [
      [[], {}],
      [['-w', '/etc'], { workdir: '/etc' }],
      [['-w', '/new/work/dir'], { workdir: '/new/work/dir' }],
    ] as const) {
      const { pd, dk } = await both(
        small,
        fx.small.local,
        ['sh', '-c', 'pwd; stat -c "%u %g %a" .'],
        [...flags],
        opts,
      );
      expect(pd.stdout).toBe(dk.stdout);
    }
  });

  test('the exit code is propagated', async () => {
    const { pd, dk } = await both(small, fx.small.local, ['sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(dk.exitCode).toBe(7);
    expect(pd.exitCode).toBe(7);
    expect(pd.stdout).toBe('out\n');
    expect(pd.stderr).toBe('err\n');
  });

  test('a file deleted in an upper layer is absent, an opaque directory shows only the upper content', async () => {
    const script =
      'for f in /removed.txt /data/old /data/sub; do test -e $f && echo "present $f"; done; ls -a /data; cat /data/new /etc/app.conf.link; stat -c "%h %U" /etc/app.conf /home/app/owned.txt';
    const { pd, dk } = await both(layered, fx.layered.local, ['sh', '-c', script]);
    expect(dk.stdout).not.toContain('present');
    expect(pd.stdout).toBe(dk.stdout);
    expect(pd.stdout).toContain('.\n..\nnew\n');
  });

  test('the same with a copied root filesystem', async () => {
    const script =
      'for f in /removed.txt /data/old /data/sub; do test -e $f && echo "present $f"; done; ls -a /data; ls -l /usr/local/bin/run';
    const { pd, dk } = await both(layered, fx.layered.local, ['sh', '-c', script], [], { rootfs: 'copy' });
    expect(pd.events.find((e) => e.kind === 'rootfs')).toMatchObject({ mode: 'copy' });
    expect(pd.stdout).toBe(dk.stdout);
  });

  test('generated /etc/hosts, /etc/resolv.conf, hostname and a loopback-only network', async () => {
    const script =
      'cat /etc/hosts /etc/resolv.conf; hostname | wc -c; cat /etc/hostname | wc -c; cut -d: -f1 /proc/net/dev | tail -n +3';
    const { pd, dk } = await both(small, fx.small.local, ['sh', '-c', script]);
    expect(pd.stdout).toBe(dk.stdout);
    expect(pd.stdout).toMatch(/^\s*lo$/m);
  });

  test('--network host: the host network, name and /etc/hosts', async () => {
    const script = 'hostname; cut -d: -f1 /proc/net/dev | tail -n +3 | sort; cat /etc/hosts';
    const [pd, dk] = await Promise.all([
      pdRun(small, { cacheDir, args: ['sh', '-c', script], network: 'host' }),
      dockerRun(fx.small.local, ['sh', '-c', script], ['--network', 'host']),
    ]);
    expect(dk.exitCode).toBe(0);
    expect(pd.stdout).toBe(dk.stdout);
    expect(pd.stdout.split('\n')[0]).toBe(hostname());
  });

  test('--hostname, --read-only', async () => {
    const script = 'hostname; touch /x 2>&1; echo rc=$?; touch /tmp/y 2>&1; echo rc=$?';
    const { pd, dk } = await both(
      small,
      fx.small.local,
      ['sh', '-c', script],
      ['--hostname', 'box', '--read-only'],
      {
        hostname: 'box',
        readOnly: true,
      },
    );
    expect(pd.stdout).toBe(dk.stdout);
    expect(pd.stdout).toContain('Read-only file system');
  });

  test('masked and read-only /proc paths, capabilities', async () => {
    const script =
      'grep Cap /proc/self/status; wc -c < /proc/kcore; echo 1 > /proc/sys/kernel/domainname 2>&1; echo rc=$?';
    const { pd, dk } = await both(small, fx.small.local, ['sh', '-c', script]);
    expect(pd.stdout).toBe(dk.stdout);
  });

  test('--entrypoint resets Cmd; args replace Cmd', async () => {
    const cases: Array<[string[], string[], object]> = [
      [['--entrypoint', 'echo'], [], { entrypoint: 'echo' }],
      [['--entrypoint', 'echo'], ['a', 'b'], { entrypoint: 'echo' }],
      [['--entrypoint', ''], ['echo', 'x'], { entrypoint: '' }],
      [[], ['echo', 'args'], {}],
    ];
    for (const [flags, args, opts] of cases) {
      const { pd, dk } = await both(withUser, fx.withUser.local, args, flags, opts);
      expect(pd.stdout).toBe(dk.stdout);
    }
  });

  test('bind mounts, read-write and read-only', async () => {
    const rw = await mkdtemp(join(work, 'rw-'));
    const ro = await mkdtemp(join(work, 'ro-'));
    await writeFile(join(ro, 'in.txt'), 'from the host\n');
    const r = await pdRun(small, {
      cacheDir,
      args: [
        'sh',
        '-c',
        'cat /in/in.txt; echo written > /out/new.txt; echo x > /in/nope 2>/dev/null; echo rc=$?',
      ],
      volumes: [`${rw}:/out`, { source: ro, target: '/in', readOnly: true }],
    });
    expect(r.stdout).toBe('from the host\nrc=1\n');
    expect(await readFile(join(rw, 'new.txt'), 'utf8')).toBe('written\n');
    expect(await readdir(ro)).toEqual(['in.txt']);
  });

  test('stdin piped through with interactive', async () => {
    const r = await pdRun(small, {
      cacheDir,
      args: ['cat'],
      interactive: true,
      stdin: Readable.from(['hi\n', 'there\n']),
    });
    expect(r.stdout).toBe('hi\nthere\n');
    // Without -i the container reads nothing, as with docker.
    const none = await pdRun(small, { cacheDir, args: ['cat'] });
    expect(none.stdout).toBe('');
  });

  test('a command that does not exist fails with 127, like docker', async () => {
    const dk = await dockerRun(fx.small.local, ['no-such-command']);
    expect(dk.exitCode).toBe(127);
    await expect(pdRun(small, { cacheDir, args: ['no-such-command'] })).rejects.toMatchObject({
      exitCode: 127,
      code: 'COMMAND_NOT_FOUND',
    });
  });
});
