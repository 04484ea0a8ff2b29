import { execFileSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { archive, missingTools, paxEntry, rawEntry } from '@pd/test-fixtures';
import { describe, expect, test } from 'vitest';
import { collect, scratchDir } from '../test/helpers.js';
import { applyLayers, extract, tarContents } from './index.js';

const base = scratchDir('pd-extract-');
const isRoot = process.getuid?.() === 0;

/** A tar made by GNU tar of `names` in a tree `make` fills (numeric owners, in the order given). */
function gnuTar(label: string, names: string[], make: (src: string) => void): Buffer {
  const src = join(base, `${label}-src`);
  mkdirSync(src);
  make(src);
  return execFileSync('tar', ['-cf', '-', '--numeric-owner', '-C', src, ...names], { maxBuffer: 16 << 20 });
}

describe('extract', () => {
  test('modes, mtimes, read-only directories, re-extraction over an existing tree', async () => {
    const tar = await collect(
      tarContents(
        {
          '/ro': { type: 'dir', mode: 0o555 },
          '/ro/file': { data: 'x', mode: 0o444 },
          '/exec': { data: 'y', mode: 0o750 },
          '/shared': { data: 'z', mode: 0o666 },
          '/sticky': { type: 'dir', mode: 0o1777 },
        },
        { mtime: 1_234_567_890 },
      ),
    );
    const dir = join(base, 'modes');
    for (let i = 0; i < 2; i++) await extract(tar, dir);
    expect(lstatSync(join(dir, 'ro')).mode & 0o7777).toBe(0o555);
    expect(lstatSync(join(dir, 'ro/file')).mode & 0o7777).toBe(0o444);
    expect(lstatSync(join(dir, 'exec')).mode & 0o7777).toBe(0o750);
    // Not as the umask would leave it.
    expect(lstatSync(join(dir, 'shared')).mode & 0o7777).toBe(0o666);
    expect(lstatSync(join(dir, 'sticky')).mode & 0o7777).toBe(0o1777);
    expect(lstatSync(join(dir, 'ro')).mtimeMs).toBe(1_234_567_890_000);
    expect(lstatSync(join(dir, 'exec')).mtimeMs).toBe(1_234_567_890_000);
  });

  test('existing files and symlinks are replaced, not written through', async () => {
    const dir = join(base, 'replace');
    mkdirSync(dir);
    const victim = join(base, 'victim');
    writeFileSync(victim, 'keep');
    symlinkSync(victim, join(dir, 'f'));
    await extract(await collect(tarContents({ '/f': 'new' })), dir);
    expect(readFileSync(victim, 'utf8')).toBe('keep');
    expect(readFileSync(join(dir, 'f'), 'utf8')).toBe('new');
  });

  test('what is in the way of a directory, a symlink or a hardlink is replaced, never followed', async () => {
    // The layer from GNU tar: a directory, a symlink, and a file with a hardlink to it.
    const tar = gnuTar('in-the-way', ['was-link', 'was-dir', 'target', 'was-file'], (src) => {
      mkdirSync(join(src, 'was-link'), { mode: 0o700 });
      writeFileSync(join(src, 'was-link', 'inner'), 'in');
      symlinkSync('elsewhere', join(src, 'was-dir'));
      writeFileSync(join(src, 'target'), 'shared');
      linkSync(join(src, 'target'), join(src, 'was-file'));
    });
    const dir = join(base, 'in-the-way');
    const outside = join(base, 'outside');
    mkdirSync(join(dir, 'was-dir'), { recursive: true });
    writeFileSync(join(dir, 'was-dir', 'old'), 'old');
    mkdirSync(outside);
    symlinkSync(outside, join(dir, 'was-link'));
    writeFileSync(join(dir, 'was-file'), 'old');
    await extract(tar, dir);
    expect(lstatSync(join(dir, 'was-link')).isDirectory()).toBe(true);
    expect(lstatSync(join(dir, 'was-link')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, 'was-link', 'inner'), 'utf8')).toBe('in');
    expect(lstatSync(outside).mode & 0o777).not.toBe(0o700);
    expect(execFileSync('ls', ['-A', outside], { encoding: 'utf8' })).toBe('');
    expect(lstatSync(join(dir, 'was-dir')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(dir, 'was-file')).ino).toBe(lstatSync(join(dir, 'target')).ino);
  });

  test('whiteouts: apply, keep, skip', async () => {
    const marker = await collect(tarContents({ '/a': { type: 'whiteout' } }));
    for (const mode of ['apply', 'keep', 'skip'] as const) {
      const dir = join(base, `wh-${mode}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'a'), 'lower');
      await extract(marker, dir, { whiteouts: mode });
      const has = (n: string) => lstatSync(join(dir, n), { throwIfNoEntry: false }) !== undefined;
      expect([has('a'), has('.wh.a')]).toEqual(
        mode === 'apply' ? [false, false] : mode === 'keep' ? [true, true] : [true, false],
      );
    }
  });

  test('abort stops the extraction', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(
      extract(await collect(tarContents({ '/x': 'y' })), join(base, 'aborted'), { signal: ac.signal }),
    ).rejects.toThrow();
  });

  describe.skipIf(!isRoot)('as root, when asked', () => {
    test('owners: root-owned files in a setgid directory of another group are still group 0, as GNU tar leaves them', async () => {
      // The layer from GNU tar, numeric owners kept.
      const tar = gnuTar('owners', ['top', 'sub'], (src) => {
        writeFileSync(join(src, 'top'), 'r');
        mkdirSync(join(src, 'sub'));
        writeFileSync(join(src, 'sub', 'inner'), 'r');
        writeFileSync(join(src, 'sub', 'theirs'), 't');
        execFileSync('chown', ['1000:1001', join(src, 'sub', 'theirs')]);
      });
      const owners = (dir: string) =>
        ['top', 'sub/inner', 'sub/theirs'].map((p) => {
          const st = lstatSync(join(dir, p));
          return `${st.uid}:${st.gid}`;
        });
      for (const [name, mode, gid] of [
        ['owners-plain', 0o755, 0],
        ['owners-setgid', 0o2775, 1234],
      ] as const) {
        const root = (label: string) => {
          const dir = join(base, `${name}-${label}`);
          mkdirSync(dir);
          execFileSync('chown', [`0:${gid}`, dir]);
          execFileSync('chmod', [mode.toString(8), dir]);
          return dir;
        };
        const ours = root('pd');
        await extract(tar, ours, { chown: true });
        const gnu = root('gnu');
        execFileSync('tar', ['-xf', '-', '--numeric-owner', '-C', gnu], { input: tar });
        expect(owners(ours), name).toEqual(['0:0', '0:0', '1000:1001']);
        expect(owners(ours), name).toEqual(owners(gnu));
      }
    });

    test('device nodes, fifos, setuid bits and owners', async () => {
      const tar = archive(
        rawEntry({ name: 'null2', type: '3', devmajor: 1, devminor: 3, mode: 0o666 }),
        rawEntry({ name: 'pipe', type: '6', mode: 0o640 }),
        rawEntry({ name: 'suid', mode: 0o4755, uid: 1234, gid: 5678 }, '#!/bin/sh\n'),
      );
      const dir = join(base, 'root');
      await extract(tar, dir, { devices: true, specialModes: true, chown: true });
      expect(lstatSync(join(dir, 'null2')).isCharacterDevice()).toBe(true);
      expect(lstatSync(join(dir, 'null2')).rdev).toBe(0x103);
      expect(lstatSync(join(dir, 'pipe')).isFIFO()).toBe(true);
      const suid = lstatSync(join(dir, 'suid'));
      expect(suid.mode & 0o7777).toBe(0o4755);
      expect([suid.uid, suid.gid]).toEqual([1234, 5678]);
    });

    test('nodes made at the layer’s end end up as GNU tar leaves them: replaced, hard-linked, owned', async () => {
      // Nodes wait for one mknod run at the end of their layer; entries after them in the same
      // layer must see them as GNU tar (which makes each at once) does.
      const tar = archive(
        rawEntry({ name: 'dev/', type: '5', mode: 0o755 }),
        rawEntry({ name: 'dev/zero', type: '3', devmajor: 1, devminor: 5, mode: 0o666, uid: 7, gid: 8 }),
        rawEntry({ name: 'dev/zero-link', type: '1', linkname: 'dev/zero' }),
        rawEntry({ name: 'dev/gone', type: '4', devmajor: 7, devminor: 1, mode: 0o660 }),
        rawEntry({ name: 'dev/gone', mode: 0o644 }, 'a file now\n'),
        rawEntry({ name: 'dev/fifo', type: '6', mode: 0o600, uid: 9, gid: 9 }),
      );
      const ours = join(base, 'nodes-pd');
      const gnu = join(base, 'nodes-gnu');
      mkdirSync(gnu);
      await extract(tar, ours, { devices: true, chown: true });
      execFileSync('tar', ['-xpf', '-', '--numeric-owner', '-C', gnu], { input: tar });
      const describe = (dir: string) =>
        execFileSync('find', ['dev', '-printf', '%p %y %m %U:%G %n\\n'], { cwd: dir, encoding: 'utf8' })
          .split('\n')
          .sort();
      const rdev = (dir: string, n: string) => lstatSync(join(dir, n)).rdev;
      expect(describe(ours)).toEqual(describe(gnu));
      expect(rdev(ours, 'dev/zero')).toBe(rdev(gnu, 'dev/zero'));
      expect(readFileSync(join(ours, 'dev/gone'), 'utf8')).toBe('a file now\n');
      expect(lstatSync(join(ours, 'dev/zero-link')).ino).toBe(lstatSync(join(ours, 'dev/zero')).ino);
    });
  });

  describe.skipIf(missingTools('setfattr', 'getfattr'))('extended attributes', () => {
    /** A file entry preceded by a PAX header carrying its attributes, as GNU tar --xattrs writes. */
    const tagged = (name: string, attrs: Record<string, string>, data: string) => [
      paxEntry(Object.fromEntries(Object.entries(attrs).map(([k, v]) => [`SCHILY.xattr.${k}`, v]))),
      rawEntry({ name }, data),
    ];
    const attr = (path: string, name: string) =>
      execFileSync('getfattr', ['-h', '--only-values', '-n', name, path], { stdio: 'pipe' }).toString(
        'latin1',
      );
    const dump = (dir: string) =>
      execFileSync('getfattr', ['-R', '-h', '-d', '-m', '-', '.'], { cwd: dir, encoding: 'utf8' });

    test('written per layer: odd names too, and a file a later layer replaces keeps none of the old ones', async () => {
      const odd = 'odd\nname \\ = \u00e9';
      const lower = archive(
        ...tagged('a', { 'user.one': '1', 'user.two': 'zwei' }, 'a'),
        ...tagged(odd, { 'user.odd': 'yes' }, 'b'),
        ...tagged('replaced', { 'user.old': 'x' }, 'c'),
      );
      const upper = archive(rawEntry({ name: 'replaced' }, 'new'));
      const dir = join(base, 'xattrs');
      const stats = await applyLayers(dir, [lower, upper], { xattrs: true });
      expect(stats.xattrsSkipped).toBe(0);
      expect(attr(join(dir, 'a'), 'user.one')).toBe('1');
      expect(attr(join(dir, 'a'), 'user.two')).toBe('zwei');
      expect(attr(join(dir, odd), 'user.odd')).toBe('yes');
      expect(dump(dir)).not.toContain('user.old');
    });

    test('not asked: nothing written, onXattrs still told', async () => {
      const dir = join(base, 'xattrs-off');
      const told: string[] = [];
      await extract(archive(...tagged('a', { 'user.one': '1' }, 'a')), dir, {
        onXattrs: (_, xattrs) => {
          told.push(...Object.keys(xattrs));
        },
      });
      expect(told).toEqual(['user.one']);
      expect(dump(dir)).toBe('');
    });

    test('without setfattr every entry is counted and told why, and the files are still written', async () => {
      const dir = join(base, 'xattrs-no-tool');
      const reasons: string[] = [];
      const path = process.env.PATH;
      process.env.PATH = '/nonexistent';
      try {
        const stats = await extract(archive(...tagged('a', { 'user.one': '1' }, 'a')), dir, {
          xattrs: true,
          onSkip: (h, reason) => reasons.push(`${h.name}: ${reason}`),
        });
        expect(stats.xattrsSkipped).toBe(1);
      } finally {
        process.env.PATH = path;
      }
      expect(reasons).toEqual([
        'a: extended attributes not written: setfattr not found (apt-get install attr)',
      ]);
      expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('a');
    });

    test.skipIf(!isRoot || missingTools('getcap'))(
      'as root: security.capability survives the chown that would clear it',
      async () => {
        // vfs_cap_data revision 2 with cap_net_raw permitted and effective (what setcap cap_net_raw+ep writes).
        const cap = Buffer.from('AQAAAgAgAAAAAAAAAAAAAAAAAAA=', 'base64').toString('latin1');
        const dir = join(base, 'xattrs-root');
        const tar = archive(
          paxEntry({ 'SCHILY.xattr.security.capability': cap }),
          rawEntry({ name: 'ping', mode: 0o755, uid: 1234, gid: 5678 }, '#!/bin/sh\n'),
        );
        const stats = await extract(tar, dir, { xattrs: true, chown: true });
        expect(stats.xattrsSkipped).toBe(0);
        expect(lstatSync(join(dir, 'ping')).uid).toBe(1234);
        expect(execFileSync('getcap', [join(dir, 'ping')], { encoding: 'utf8' })).toMatch(
          /cap_net_raw[=+]ep/,
        );
      },
    );
  });
});
