import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  APPLETS,
  busyboxMissing,
  busyboxRootfs,
  busyboxRootfsTar,
  gnuTar,
  gnuTarMissing,
  isRoot,
  ROOTFS_PASSWD,
  runc,
  runcMissing,
} from '../src/index.js';

const execFileP = promisify(execFile);

describe.skipIf(busyboxMissing())('busybox rootfs', () => {
  let work: string;
  let rootfs: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pd-rootfs-test-'));
    rootfs = await busyboxRootfs(join(work, 'rootfs'), {
      extraFiles: {
        '/etc/motd': 'hi\n',
        '/opt/tool/run.sh': { data: '#!/bin/sh\necho tool\n', mode: 0o755 },
      },
    });
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test('has a static busybox, applet links and users', async () => {
    expect((await lstat(join(rootfs, 'bin/busybox'))).mode & 0o777).toBe(0o755);
    for (const applet of [
      'sh',
      'ls',
      'cat',
      'env',
      'id',
      'pwd',
      'echo',
      'true',
      'false',
      'sleep',
      'test',
      'wc',
      'stat',
    ]) {
      expect(APPLETS).toContain(applet);
      expect(await readlink(join(rootfs, 'bin', applet))).toBe('busybox');
    }
    expect(await readFile(join(rootfs, 'etc/passwd'), 'utf8')).toBe(ROOTFS_PASSWD);
    expect(await readFile(join(rootfs, 'etc/group'), 'utf8')).toMatch(/^staff:x:50:app$/m);
    expect(await readFile(join(rootfs, 'etc/motd'), 'utf8')).toBe('hi\n');
    expect((await lstat(join(rootfs, 'opt/tool/run.sh'))).mode & 0o777).toBe(0o755);
    expect((await lstat(join(rootfs, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect((await lstat(join(rootfs, 'root'))).mode & 0o777).toBe(0o700);
    if (isRoot) expect((await lstat(join(rootfs, 'home/app'))).uid).toBe(1000);
  });

  test('applets run through their links', async () => {
    // busybox picks the applet from argv[0], so the link itself must work outside a chroot too.
    const { stdout } = await execFileP(join(rootfs, 'bin/sh'), [
      '-c',
      'echo ok; true && basename /a/b; false || echo no',
    ]);
    expect(stdout).toBe('ok\nb\nno\n');
  });

  test.skipIf(gnuTarMissing())('tar form: numeric owners, modes, reproducible bytes', async () => {
    const a = join(work, 'a.tar');
    const b = join(work, 'b.tar');
    await busyboxRootfsTar(a, { extraFiles: { '/etc/passwd': 'root:x:0:0::/root:/bin/sh\n' } });
    await busyboxRootfsTar(b, { extraFiles: { '/etc/passwd': 'root:x:0:0::/root:/bin/sh\n' } });
    const digest = async (f: string) =>
      createHash('sha256')
        .update(await readFile(f))
        .digest('hex');
    expect(await digest(a)).toBe(await digest(b));

    const { stdout } = await gnuTar(['-tvf', a, '--numeric-owner']);
    const line = (name: string) =>
      stdout.split('\n').find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} -> `));
    expect(line('home/app/')).toMatch(/^drwxr-xr-x 1000\/1000 /);
    expect(line('tmp/')).toMatch(/^drwxrwxrwt 0\/0 /);
    expect(line('bin/busybox')).toMatch(/^-rwxr-xr-x 0\/0 +\d{6,} 1970-01-01 00:00 bin\/busybox$/);
    expect(line('bin/sh')).toMatch(/^lrwxrwxrwx 0\/0 .* bin\/sh -> busybox$/);
    // the extra /etc/passwd replaced the default one instead of adding a second entry
    expect(stdout.split('\n').filter((l) => l.endsWith(' etc/passwd'))).toHaveLength(1);
    const { stdout: passwd } = await gnuTar(['-xOf', a, 'etc/passwd']);
    expect(passwd).toBe('root:x:0:0::/root:/bin/sh\n');
  });

  test.skipIf(runcMissing())('runc runs it as a container root filesystem', async () => {
    const bundle = join(work, 'bundle');
    await busyboxRootfs(join(bundle, 'rootfs'));
    await runc(['spec', '--bundle', bundle]);
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8'));
    config.process.terminal = false;
    config.root.readonly = false;
    config.process.user = { uid: 1000, gid: 1000 };
    config.process.cwd = '/home/app';
    config.process.args = ['/bin/sh', '-c', 'id -u; pwd; echo x > /home/app/f && cat /home/app/f'];
    await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
    const { stdout } = await runc(['run', '--bundle', bundle, `pd-rootfs-test-${process.pid}`], {
      timeout: 60_000,
    });
    expect(stdout).toBe('1000\n/home/app\nx\n');
  });
});
