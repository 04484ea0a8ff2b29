import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildImage,
  busyboxRootfsTar,
  docker,
  dockerMissing,
  missingTools,
  skopeo,
  skopeoMissing,
  umociMissing,
} from '@pd/test-fixtures';
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

describe.skipIf(missing)(
  'pd export DIR of a layer of many small files writes what umoci unpack writes',
  () => {
    const iso = isolatedEnv();

    it('3000 files copied in by docker build, then owners changed, files and a directory removed, a file replaced: entry by entry', async () => {
      // A layer of at least 16 MiB in a docker archive: extraction shares its small files with a
      // second thread (@pd/tar's write-thread.ts); the layer after it whites some of them out.
      const context: Record<string, { data: Buffer; mode: number }> = {};
      for (let i = 0; i < 3000; i++) {
        const name = `many/d${String(Math.floor(i / 100)).padStart(2, '0')}/f${String(i).padStart(4, '0')}`;
        context[name] = {
          data: Buffer.alloc(1 + ((i * 4099) % 12_288), i % 251),
          mode: [0o644, 0o755, 0o600][i % 3]!,
        };
      }
      const TAG = 'pd-fixtures/export-many:1';
      await buildImage({
        tag: TAG,
        context,
        steps: [
          'COPY many /many',
          [
            'RUN chown -R 1234:5678 /many/d01',
            'chmod 4755 /many/d02/f0200',
            'ln /many/d03/f0300 /many/hard',
            'rm /many/d04/f0400',
            'rm -rf /many/d05',
            'echo replaced > /many/d06/f0600',
          ].join(' && '),
        ],
      });
      const archive = join(iso.dir, 'many.tar');
      await docker(['save', '-o', archive, TAG]);
      const layout = join(iso.dir, 'layout');
      await skopeo(['copy', '-q', `docker-archive:${archive}`, `oci:${layout}:t`]);
      execFileSync('umoci', ['unpack', '--image', `${layout}:t`, join(iso.dir, 'bundle')], { stdio: 'pipe' });
      const umociTree = describeEntries(join(iso.dir, 'bundle', 'rootfs'), new Set());
      expect(umociTree['many/d05']).toBeUndefined();
      expect(umociTree['many/d01/f0100']).toMatch(/^file \d+ 1234:5678 /);
      const out = join(iso.dir, 'rootfs');
      const r = await pd(['export', archive, out], { env: iso.env });
      expect(r.code, r.stderr).toBe(0);
      expect(describeEntries(out, new Set())).toEqual(umociTree);
    }, 600_000);
    afterAll(() => iso.cleanup());
  },
);

/** Every extended attribute under `root`, as getfattr dumps them (paths relative to root). */
function xattrDump(root: string): string {
  return execFileSync('getfattr', ['-R', '-h', '-d', '-m', '-', '.'], { cwd: root, encoding: 'utf8' });
}

describe.skipIf(missing ?? missingTools('getfattr', 'setfattr'))(
  'pd export DIR writes extended attributes as umoci unpack does',
  () => {
    const iso = isolatedEnv();
    let archive: string;
    let umociDump: string;

    beforeAll(async () => {
      // A base made by GNU tar --xattrs and docker import (docker keeps an imported tar's headers),
      // then a RUN step that recreates one tagged file: the new file has no attributes (and a
      // layer docker builds records only security.capability anyway).
      const tree = join(iso.dir, 'tree');
      mkdirSync(tree);
      await busyboxRootfsTar(join(iso.dir, 'busybox.tar'));
      execFileSync('tar', ['-xf', join(iso.dir, 'busybox.tar'), '-C', tree]);
      for (const [name, attr] of [
        ['tagged', 'user.pd.note=hello'],
        ['replaced', 'user.pd.old=gone-later'],
        ['with space \u00e9', 'user.pd.name=odd'],
      ] as const) {
        writeFileSync(join(tree, 'etc', name), `${name}\n`);
        const [key, value] = attr.split('=');
        execFileSync('setfattr', ['-n', key!, '-v', value!, join(tree, 'etc', name)]);
      }
      const base = join(iso.dir, 'base.tar');
      execFileSync('tar', ['--xattrs', '--xattrs-include=user.*', '-C', tree, '-cf', base, '.']);
      await docker(['import', base, 'pd-fixtures/xattrs-base:1']);
      await buildImage({
        tag: 'pd-fixtures/xattrs:1',
        base: 'pd-fixtures/xattrs-base:1',
        steps: ['RUN rm /etc/replaced && echo new > /etc/replaced'],
      });
      archive = join(iso.dir, 'image.tar');
      await docker(['save', '-o', archive, 'pd-fixtures/xattrs:1']);
      const layout = join(iso.dir, 'layout');
      await skopeo(['copy', '-q', `docker-archive:${archive}`, `oci:${layout}:t`]);
      execFileSync('umoci', ['unpack', '--image', `${layout}:t`, join(iso.dir, 'bundle')], { stdio: 'pipe' });
      umociDump = xattrDump(join(iso.dir, 'bundle', 'rootfs'));
    }, 600_000);
    afterAll(() => iso.cleanup());

    it('the same attributes on the same files; none on the recreated one', async () => {
      expect(umociDump).toContain('user.pd.note="hello"');
      expect(umociDump).toContain('user.pd.name="odd"');
      expect(umociDump).not.toContain('user.pd.old');
      const out = join(iso.dir, 'rootfs');
      const r = await pd(['export', archive, out], { env: iso.env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(xattrDump(out)).toBe(umociDump);
    });

    it('--portable writes none', async () => {
      const out = join(iso.dir, 'portable');
      const r = await pd(['export', '--portable', archive, out], { env: iso.env });
      expect(r.code, r.stderr).toBe(0);
      expect(xattrDump(out)).toBe('');
    });
  },
);
