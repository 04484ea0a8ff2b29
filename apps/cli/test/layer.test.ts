import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { gnuTar, hostileTars, which } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, isolatedEnv, pd } from './helpers.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const squash = (s: string) =>
  s
    .trimEnd()
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' '));

describe('pd layer create | ls | extract', () => {
  const iso = isolatedEnv();
  const run = (args: string[], input?: Buffer) =>
    pd(args, { env: iso.env, cwd: iso.dir, ...(input ? { input } : {}) });
  const src = join(iso.dir, 'src');

  beforeAll(() => {
    mkdirSync(join(src, 'bin'), { recursive: true });
    mkdirSync(join(src, 'etc'));
    writeFileSync(join(src, 'bin', 'tool'), '#!/bin/sh\necho tool\n');
    chmodSync(join(src, 'bin', 'tool'), 0o755);
    writeFileSync(join(src, 'etc', 'app.conf'), 'answer=42\n');
    linkSync(join(src, 'etc', 'app.conf'), join(src, 'etc', 'app.conf.link'));
    symlinkSync('../bin/tool', join(src, 'etc', 'tool'));
    writeFileSync(join(src, 'data.bin'), randomBytes(200_000));
  });
  afterAll(() => iso.cleanup());

  it('create prints digest, diffId and size of what it wrote, and is reproducible', async () => {
    const out = join(iso.dir, 'l.tgz');
    // One line for people without --json, on stdout (the result), nothing on stderr.
    const human = await run(['layer', 'create', src, '-o', join(iso.dir, 'h.tgz')]);
    expect(human.stderr).toBe('');
    expect(human.stdout).toMatch(
      /^wrote .*h\.tgz \([\d.]+ kB, sha256:[0-9a-f]{64}, diffID sha256:[0-9a-f]{64}\)\n$/,
    );
    const r = await run(['layer', 'create', '--json', src, '-o', out]);
    expect(r.code).toBe(0);
    const file = readFileSync(out);
    const tar = gunzipSync(file);
    expect(JSON.parse(r.stdout)).toEqual({
      digest: sha256(file),
      diffId: sha256(tar),
      size: file.length,
      uncompressedSize: tar.length,
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    });
    const again = await run(['layer', 'create', '--json', src, '-o', join(iso.dir, 'l2.tgz')]);
    expect(JSON.parse(again.stdout)).toEqual(JSON.parse(r.stdout));
    const later = await pd(['layer', 'create', '--json', src, '-o', join(iso.dir, 'l3.tgz')], {
      env: { ...iso.env, SOURCE_DATE_EPOCH: '1700000000' },
    });
    expect(JSON.parse(later.stdout).digest).not.toBe(JSON.parse(r.stdout).digest);
    expect((await run(['layer', 'ls', join(iso.dir, 'l3.tgz')])).stdout).toContain(
      '2023-11-14 22:13 bin/tool',
    );
  });

  it('ls lists like GNU tar -tv (UTC), for gzip, zstd and plain tars', async () => {
    const plain = join(iso.dir, 'plain.tar');
    await run(['layer', 'create', src, '--prefix', '/app', '--compression', 'none', '-o', plain]);
    const zst = join(iso.dir, 'l.tar.zst');
    const z = await run([
      'layer',
      'create',
      '--json',
      src,
      '--prefix',
      '/app',
      '--compression',
      'zstd',
      '-o',
      zst,
    ]);
    expect(JSON.parse(z.stdout).mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    expect(JSON.parse(z.stdout).diffId).toBe(sha256(readFileSync(plain)));
    const gnu = await gnuTar(['-tvf', plain], { env: { ...process.env, TZ: 'UTC' } });
    const ours = await run(['layer', 'ls', plain]);
    expect(squash(ours.stdout)).toEqual(squash(gnu.stdout));
    expect((await run(['layer', 'ls', zst])).stdout).toBe(ours.stdout);
    expect(ours.stdout).toMatch(
      /^hrw-r--r-- 0\/0 +0 1970-01-01 00:00 app\/etc\/app\.conf\.link link to app\/etc\/app\.conf$/m,
    );
    expect(ours.stdout).toMatch(/^lrwxrwxrwx 0\/0 +0 1970-01-01 00:00 app\/etc\/tool -> \.\.\/bin\/tool$/m);
  });

  it('ls --json describes each entry', async () => {
    const r = await run(['layer', 'ls', '--json', join(iso.dir, 'l.tgz')]);
    const entries = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(entries.find((e) => e.name === 'bin/tool')).toEqual({
      name: 'bin/tool',
      type: 'file',
      mode: '0755',
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
      size: 20,
      mtime: '1970-01-01T00:00:00.000Z',
      linkname: '',
    });
    expect(entries.map((e) => e.type)).toEqual(expect.arrayContaining(['directory', 'symlink', 'link']));
  });

  it('extract unpacks files, links and modes; from a file or stdin', async () => {
    const dest = join(iso.dir, 'x1');
    const r = await run(['layer', 'extract', '--json', join(iso.dir, 'l.tgz'), dest]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      entries: 7,
      bytes: expect.any(Number),
      skipped: 0,
      xattrsSkipped: 0,
    });
    expect(readFileSync(join(dest, 'data.bin'))).toEqual(readFileSync(join(src, 'data.bin')));
    expect(readFileSync(join(dest, 'etc', 'tool'), 'utf8')).toBe('#!/bin/sh\necho tool\n');
    const piped = join(iso.dir, 'x2');
    const p = await run(['layer', 'extract', '-', piped], readFileSync(join(iso.dir, 'l.tar.zst')));
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(/^extracted 8 entries \(.+\) into /);
    expect(readdirSync(join(piped, 'app')).sort()).toEqual(['bin', 'data.bin', 'etc']);
  });

  it('refuses a hostile archive with one line, and skips its entries when asked', async () => {
    const outside = join(iso.dir, 'outside');
    mkdirSync(outside);
    const evil = hostileTars(outside).find((c) => c.name === 'dotdot-file')!;
    const file = join(iso.dir, 'evil.tar');
    writeFileSync(file, evil.bytes);
    const r = await run(['layer', 'extract', file, join(iso.dir, 'x3')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd()).toMatch(
      /^pd: unsafe archive entry "\.\.\/outside\/pwned": .+ \(the archive tries to reach outside/,
    );
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    const s = await run(['layer', 'extract', '--skip-unsafe', file, join(iso.dir, 'x4')]);
    expect(s.code).toBe(0);
    expect(s.stderr).toMatch(/^pd: warning: skipped \.\.\/outside\/pwned: /m);
    expect(readdirSync(outside)).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)(
    'leaves device nodes and fifos out unless --devices asks (root)',
    async () => {
      const tree = join(iso.dir, 'devtree');
      mkdirSync(join(tree, 'dev'), { recursive: true });
      execFileSync('mknod', [join(tree, 'dev', 'null'), 'c', '1', '3']);
      execFileSync('mkfifo', [join(tree, 'pipe')]);
      const file = join(iso.dir, 'dev.tar');
      execFileSync('tar', ['-cf', file, '-C', tree, 'dev', 'pipe']);

      const plain = await run(['layer', 'extract', file, join(iso.dir, 'd1')]);
      expect(plain.code).toBe(0);
      expect(plain.stderr).toMatch(
        /^pd: warning: skipped dev\/null: a device node \(--devices creates it\)$/m,
      );
      expect(plain.stderr).toMatch(/^pd: warning: skipped pipe: a fifo \(--devices creates it\)$/m);
      expect(readdirSync(join(iso.dir, 'd1', 'dev'))).toEqual([]);

      const asked = await run(['layer', 'extract', '--devices', file, join(iso.dir, 'd2')]);
      expect(asked.code).toBe(0);
      expect(asked.stderr).toBe('');
      const stat = (p: string) => execFileSync('stat', ['-c', '%F %t,%T', p], { encoding: 'utf8' }).trim();
      expect(stat(join(iso.dir, 'd2', 'dev', 'null'))).toBe('character special file 1,3');
      expect(stat(join(iso.dir, 'd2', 'pipe'))).toMatch(/^fifo/);
    },
  );

  describe('bad input: one line, exit 1, no stack trace, nothing left behind', () => {
    const cases: Array<[string, () => string[], RegExp]> = [
      [
        'not a tar',
        () => ['layer', 'ls', join(iso.dir, 'garbage')],
        /^pd: .+ \(the layer is corrupt or not a tar archive\)$/,
      ],
      [
        'truncated gzip',
        () => ['layer', 'extract', join(iso.dir, 'cut.tgz'), join(iso.dir, 'x5')],
        /^pd: .+ \(.+\)$/,
      ],
      ['a directory', () => ['layer', 'ls', iso.dir], /^pd: .* is a directory \(give a layer file/],
      [
        'missing file',
        () => ['layer', 'ls', join(iso.dir, 'nope.tgz')],
        /^pd: cannot stat .*nope\.tgz: no such file or directory \(check the path\)$/,
      ],
      [
        'missing directory',
        () => ['layer', 'create', join(iso.dir, 'nodir'), '-o', join(iso.dir, 'never.tgz')],
        /^pd: cannot .*nodir: no such file or directory \(check the path\)$/,
      ],
    ];
    beforeAll(() => {
      writeFileSync(join(iso.dir, 'garbage'), randomBytes(4096));
      const whole = readFileSync(join(iso.dir, 'l.tgz'));
      writeFileSync(join(iso.dir, 'cut.tgz'), whole.subarray(0, whole.length >> 1));
    });
    it.each(cases)('%s', async (_name, args, message) => {
      const r = await run(args());
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr.trimEnd()).toMatch(message);
      expect(hasStackTrace(r.stderr)).toBe(false);
      expect(existsSync(join(iso.dir, 'never.tgz'))).toBe(false);
      expect(readdirSync(iso.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    });
  });
});

describe.skipIf(!which('zstd'))('zstd layers', () => {
  it('the zstd CLI reads what pd layer create --compression zstd writes', async () => {
    const iso = isolatedEnv();
    try {
      mkdirSync(join(iso.dir, 'd'));
      writeFileSync(join(iso.dir, 'd', 'f'), randomBytes(9 << 20)); // more than one 4 MiB frame
      const out = join(iso.dir, 'l.zst');
      const r = await pd(
        ['layer', 'create', '--json', join(iso.dir, 'd'), '--compression', 'zstd', '-o', out],
        {
          env: iso.env,
        },
      );
      const tar = execFileSync('zstd', ['-dc', out], { maxBuffer: 64 << 20 });
      expect(JSON.parse(r.stdout).diffId).toBe(sha256(tar));
    } finally {
      iso.cleanup();
    }
  });
});
