import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '@pd/oci-types';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CachedLayer } from './layer-store.js';
import { lookupPath } from './lookup.js';

describe('lookupPath through cached layers', () => {
  let work: string;
  const layers: CachedLayer[] = [];

  async function layer(
    name: string,
    files: Record<string, string>,
    meta: { whiteouts?: string[]; opaques?: string[] } = {},
  ) {
    const fs = join(work, name);
    await mkdir(fs, { recursive: true });
    for (const [p, v] of Object.entries(files)) {
      await mkdir(join(fs, p, '..'), { recursive: true });
      if (v.startsWith('->')) await symlink(v.slice(2), join(fs, p));
      else await writeFile(join(fs, p), v);
    }
    layers.push({
      diffId: `sha256:${name}` as Digest,
      dir: fs,
      fs,
      meta: {
        diffId: `sha256:${name}` as Digest,
        overlay: false,
        whiteouts: meta.whiteouts ?? [],
        opaques: meta.opaques ?? [],
        bytes: 0,
        entries: 0,
        xattrFiles: 0,
        unpackedAt: '',
      },
    });
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pd-lookup-'));
    await layer('base', {
      'etc/passwd': 'base',
      'etc/group': 'base-group',
      'etc/hosts': 'base-hosts',
      'data/a': 'a',
      'usr/lib/os-release': 'os',
    });
    await layer(
      'mid',
      { 'etc/passwd': 'mid', 'etc/os-release': '->../usr/lib/os-release', lib: '->/usr/lib' },
      { whiteouts: ['etc/group'] },
    );
    await layer('top', { 'data/b': 'b', loop: '->loop' }, { opaques: ['data'] });
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const read = async (p: string) => {
    const hit = await lookupPath(layers, p);
    return hit ? hit.hostPath.slice(work.length + 1) : undefined;
  };

  test('the top-most layer wins', async () => {
    expect(await read('/etc/passwd')).toBe('mid/etc/passwd');
    expect(await read('/etc/hosts')).toBe('base/etc/hosts');
  });
  test('whiteouts and opaque directories hide lower content', async () => {
    expect(await read('/etc/group')).toBeUndefined();
    expect(await read('/data/a')).toBeUndefined();
    expect(await read('/data/b')).toBe('top/data/b');
  });
  test('symlinks resolve inside the image, relative and absolute', async () => {
    expect(await read('/etc/os-release')).toBe('base/usr/lib/os-release');
    expect(await read('/lib/os-release')).toBe('base/usr/lib/os-release');
    expect(await read('/../../etc/passwd')).toBe('mid/etc/passwd');
  });
  test('loops and missing paths give undefined', async () => {
    expect(await read('/loop')).toBeUndefined();
    expect(await read('/nope/x')).toBeUndefined();
    expect(await read('/etc/passwd/x')).toBeUndefined();
  });
});
