import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archive, rawEntry } from '@pd/test-fixtures';
import { afterAll, describe, expect, test } from 'vitest';
import { collect } from '../test/helpers.js';
import { extract, tarContents } from './index.js';

const base = mkdtempSync(join(tmpdir(), 'pd-extract-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;

describe('extract', () => {
  test('modes, mtimes, read-only directories, re-extraction over an existing tree', async () => {
    const tar = await collect(
      tarContents(
        {
          '/ro': { type: 'dir', mode: 0o555 },
          '/ro/file': { data: 'x', mode: 0o444 },
          '/exec': { data: 'y', mode: 0o750 },
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
  });
});
