import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestOf } from '@pd/oci-types';
import { afterAll, describe, expect, test } from 'vitest';
import { BlobLocations } from '../src/locations.js';

const dir = mkdtempSync(join(tmpdir(), 'pd-locations-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const blob = digestOf(Buffer.from('a layer'));

describe('BlobLocations', () => {
  test('keeps the repositories that held a blob, newest first, a few per registry', async () => {
    const l = new BlobLocations(join(dir, 'order'));
    expect(await l.repositories('reg.example:5000', blob)).toEqual([]);
    for (const r of ['a/one', 'b/two', 'c', 'd/four', 'e/five'])
      await l.remember('reg.example:5000', r, blob);
    expect(await l.repositories('reg.example:5000', blob)).toEqual(['e/five', 'd/four', 'c', 'b/two']);
    // Seen again: to the front, not twice.
    await l.remember('reg.example:5000', 'c', blob);
    expect(await l.repositories('reg.example:5000', blob)).toEqual(['c', 'e/five', 'd/four', 'b/two']);
    // Per registry and per digest.
    expect(await l.repositories('other.example', blob)).toEqual([]);
    expect(await l.repositories('reg.example:5000', digestOf(Buffer.from('another')))).toEqual([]);
    const hex = blob.slice('sha256:'.length);
    expect(readFileSync(join(dir, 'order', 'locations', 'reg.example:5000', 'sha256', hex), 'utf8')).toBe(
      'c\ne/five\nd/four\nb/two\n',
    );
  });

  test('names that are not a registry and a repository are neither kept nor read back', async () => {
    const l = new BlobLocations(join(dir, 'names'));
    await l.remember('../../etc', 'x', blob);
    await l.remember('reg.example', '../escape', blob);
    await l.remember('reg.example', 'UPPER/case', blob);
    expect(readdirSync(join(dir)).includes('names')).toBe(false);
    await l.remember('reg.example', 'ok/repo', blob);
    const file = join(dir, 'names', 'locations', 'reg.example', 'sha256', blob.slice('sha256:'.length));
    writeFileSync(file, 'ok/repo\n../../evil\n\nNot/Valid\nalso/ok\n');
    expect(await l.repositories('reg.example', blob)).toEqual(['ok/repo', 'also/ok']);
  });

  test('a directory it cannot write leaves pushes alone: remember() neither throws nor leaves files', async () => {
    // A file where the directory should be: no write can succeed, not even as root.
    const blocked = join(dir, 'blocked');
    writeFileSync(blocked, 'not a directory');
    const l = new BlobLocations(blocked);
    await expect(l.remember('reg.example', 'a/b', blob)).resolves.toBeUndefined();
    expect(await l.repositories('reg.example', blob)).toEqual([]);
    expect(readFileSync(blocked, 'utf8')).toBe('not a directory');
  });
});

describe('BlobLocations.prune', () => {
  test('drops the records older than asked, or all of them', async () => {
    const l = new BlobLocations(join(dir, 'prune'));
    const other = digestOf(Buffer.from('another layer'));
    await l.remember('reg.example', 'old/one', blob);
    await l.remember('reg.example', 'new/one', other);
    const hex = blob.slice('sha256:'.length);
    const aged = new Date(Date.now() - 3 * 24 * 3600 * 1000);
    utimesSync(join(dir, 'prune', 'locations', 'reg.example', 'sha256', hex), aged, aged);
    expect(await l.prune(24 * 3600 * 1000)).toBe(1);
    expect(await l.repositories('reg.example', blob)).toEqual([]);
    expect(await l.repositories('reg.example', other)).toEqual(['new/one']);
    expect(await l.prune()).toBe(1);
    expect(readdirSync(join(dir, 'prune')).includes('locations')).toBe(false);
    expect(await l.prune()).toBe(0);
  });
});
