import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { buildImage, docker, dockerMissing, skopeo, skopeoMissing, umociMissing } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, PD_MAIN, pd } from './helpers.js';
import { describeEntries } from './tree.js';

const isRoot = process.getuid?.() === 0;
const missing =
  dockerMissing() ??
  skopeoMissing() ??
  umociMissing() ??
  (isRoot ? undefined : skipped('pd export DIR as root needs root'));

function skipped(reason: string): string {
  process.stderr.write(`[pd tests] skipped: ${reason}\n`);
  return reason;
}

describe.skipIf(missing)('pd export DIR as root writes what umoci unpack writes', () => {
  const iso = isolatedEnv();
  const TAG = 'pd-fixtures/export-dir:1';
  let archive: string;
  let umociTree: Record<string, string>;

  beforeAll(async () => {
    await buildImage({
      tag: TAG,
      steps: [
        [
          'RUN mkdir -p /x/owned /x/sticky',
          'echo s > /x/suid && chmod 4755 /x/suid',
          'echo g > /x/sgid && chmod 2711 /x/sgid',
          'echo o > /x/owned/f && chown -R 1234:5678 /x/owned',
          'chmod 1777 /x/sticky',
          'mknod /x/null c 1 3 && mknod /x/loop b 7 0 && chmod 640 /x/loop',
          'mkfifo /x/pipe',
        ].join(' && '),
      ],
    });
    archive = join(iso.dir, 'image.tar');
    await docker(['save', '-o', archive, TAG]);
    const layout = join(iso.dir, 'layout');
    await skopeo(['copy', '-q', `docker-archive:${archive}`, `oci:${layout}:t`]);
    execFileSync('umoci', ['unpack', '--image', `${layout}:t`, join(iso.dir, 'bundle')], { stdio: 'pipe' });
    umociTree = describeEntries(join(iso.dir, 'bundle', 'rootfs'), new Set());
  }, 600_000);
  afterAll(() => iso.cleanup());

  it('owners, setuid/setgid/sticky bits, device nodes and fifos: the same tree, entry by entry', async () => {
    expect(umociTree['x/null']).toBe('char 644 0:0 1:3');
    const out = join(iso.dir, 'rootfs');
    const r = await pd(['export', archive, out], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const tree = describeEntries(out, new Set());
    // The root directory's own mode is the caller's (umoci's 0755 bundle, pd's mkdir).
    expect(tree).toEqual(umociTree);
  });

  it('--portable keeps the old behaviour: your owner, no special bits, no devices', async () => {
    const out = join(iso.dir, 'portable');
    const r = await pd(['export', '--portable', archive, out], { env: iso.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 device node\(s\) not created/);
    const tree = describeEntries(out, new Set());
    expect(tree['x/suid']).toMatch(/^file 755 0:0 /);
    expect(tree['x/owned/f']).toMatch(/^file 644 0:0 /);
    expect(tree['x/null']).toBeUndefined();
    expect(tree['x/pipe']).toBeUndefined();
  });

  it('not as root: owners are yours, devices skipped with a warning, the rest written', async () => {
    const out = join(iso.dir, 'nobody');
    execFileSync('install', ['-d', '-o', '65534', '-g', '65534', out]);
    const cache = join(iso.dir, 'nobody-cache');
    execFileSync('install', ['-d', '-o', '65534', '-g', '65534', cache]);
    execFileSync('chmod', ['a+rx', iso.dir]);
    execFileSync('chmod', ['a+r', archive]);
    const r = spawnSync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '--',
        PD_MAIN,
        'export',
        archive,
        join(out, 'rootfs'),
      ],
      { env: { ...iso.env, PD_CACHE_DIR: cache, HOME: cache }, encoding: 'utf8' },
    );
    const code = r.status;
    expect(code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 device node\(s\) not created/);
    const tree = describeEntries(join(out, 'rootfs'), new Set());
    expect(tree['x/owned/f']).toMatch(/^file 644 65534:65534 /);
    expect(tree['x/pipe']).toMatch(/^fifo 644 65534:65534$/);
    expect(tree['x/null']).toBeUndefined();
  });
});
