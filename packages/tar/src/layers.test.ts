import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { collect, describeTree, scratchDir } from '../test/helpers.js';
import {
  applyLayers,
  type Contents,
  compressLayer,
  extract,
  flattenLayers,
  isWhiteout,
  OPAQUE_WHITEOUT,
  opaqueWhiteoutPath,
  readEntries,
  tarContents,
  whiteoutPath,
  whiteoutTarget,
} from './index.js';

const base = scratchDir('pd-layers-');

const layer = (c: Contents) => collect(tarContents(c));
const gz = async (c: Contents) => collect(compressLayer(tarContents(c), { compression: 'gzip' }).stream);
const zst = async (c: Contents) => collect(compressLayer(tarContents(c), { compression: 'zstd' }).stream);

describe('whiteout helpers', () => {
  test('names', () => {
    expect(whiteoutPath('/etc/app.conf')).toBe('etc/.wh.app.conf');
    expect(whiteoutPath('top')).toBe('.wh.top');
    expect(opaqueWhiteoutPath('/var/lib/')).toBe(`var/lib/${OPAQUE_WHITEOUT}`);
    expect(isWhiteout('a/.wh.b')).toBe(true);
    expect(isWhiteout('a/b.wh.c')).toBe(false);
    expect(whiteoutTarget('a/.wh.b')).toEqual({ kind: 'delete', path: 'a/b' });
    expect(whiteoutTarget('./a/.wh..wh..opq')).toEqual({ kind: 'opaque', dir: 'a' });
    expect(whiteoutTarget('a/.wh.')).toBeUndefined();
    expect(() => whiteoutTarget('../.wh.x')).toThrow();
  });
});

/** The layer stack every test below shares. */
async function stack() {
  return [
    await gz({
      '/etc/keep': 'base',
      '/etc/gone': 'base',
      '/etc/dir/a': 'base',
      '/var/cache/old': 'base',
      '/var/cache/sub/old': 'base',
      '/opt/file-becomes-dir': 'base',
      '/opt/dir-becomes-file/x': 'base',
      '/srv/data': 'base',
      '/srv/hard': { type: 'link', linkname: '/srv/data' },
    }),
    await zst({
      '/etc/gone': { type: 'whiteout' },
      '/etc/dir': { type: 'whiteout' },
      '/etc/keep': 'middle',
      '/var/cache': { type: 'opaque' },
      '/var/cache/new': 'middle',
      '/var/cache/sub/new': 'middle',
      '/opt/file-becomes-dir/inner': 'middle',
      '/opt/dir-becomes-file': 'middle',
    }),
    await layer({ '/etc/top': 'top', '/srv/data': 'top' }),
  ];
}

const expected = {
  etc: 'dir 755',
  'etc/keep': 'middle',
  'etc/top': 'top',
  opt: 'dir 755',
  'opt/dir-becomes-file': 'middle',
  'opt/file-becomes-dir': 'dir 755',
  'opt/file-becomes-dir/inner': 'middle',
  srv: 'dir 755',
  'srv/data': 'top',
  'srv/hard': 'base',
  var: 'dir 755',
  'var/cache': 'dir 755',
  'var/cache/new': 'middle',
  'var/cache/sub': 'dir 755',
  'var/cache/sub/new': 'middle',
};

/** Flattening keeps overlayfs' hardlink meaning too: `srv/hard` keeps the content `srv/data` had. */
const flattenedExpected = expected;

function contentsOf(dir: string): Record<string, string> {
  const tree = describeTree(dir);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tree))
    out[k] = v.startsWith('file') ? readFileSync(join(dir, k), 'utf8') : v;
  return out;
}

describe('applyLayers', () => {
  test('overlay semantics: whiteouts, opaque directories, type changes, shadowing', async () => {
    const dir = join(base, 'applied');
    await applyLayers(dir, await stack());
    expect(contentsOf(dir)).toEqual(expected);
  });

  test('an opaque marker after the same layer wrote into the directory spares that content', async () => {
    const dir = join(base, 'opaque-order');
    const lower = await layer({ '/d/lower': 'x', '/d/sub/lower': 'x' });
    // Hand-ordered: the layer's own files come before its opaque marker.
    const upper = Buffer.concat([
      (await layer({ '/d/sub/upper': 'u' })).subarray(0, -1024),
      await layer({ '/d': { type: 'opaque' } }),
    ]);
    await applyLayers(dir, [lower, () => upper]);
    expect(contentsOf(dir)).toEqual({ d: 'dir 755', 'd/sub': 'dir 755', 'd/sub/upper': 'u' });
  });
});

describe('flattenLayers', () => {
  test('gives the tree applyLayers gives, without whiteouts', async () => {
    const flat = await collect(flattenLayers(await stack()));
    const names: string[] = [];
    for await (const e of readEntries(flat)) {
      names.push(e.header.name);
      e.body.resume();
    }
    expect(names.some((n) => isWhiteout(n))).toBe(false);
    const dir = join(base, 'flattened');
    await extract(flat, dir);
    expect(contentsOf(dir)).toEqual(flattenedExpected);
  });

  test('GNU tar extracts the flattened tar to the same tree', async () => {
    const flat = await collect(flattenLayers(await stack()));
    const file = join(base, 'flat.tar');
    writeFileSync(file, flat);
    const dir = join(base, 'flat-gnu');
    mkdirSync(dir);
    execFileSync('tar', ['-xf', file, '-C', dir]);
    expect(contentsOf(dir)).toEqual(flattenedExpected);
  });
});

describe('flattenLayers and hardlinks across layers', () => {
  async function flatTree(name: string, layers: Buffer[] | (() => Buffer)[]) {
    const flat = await collect(flattenLayers(layers));
    const file = join(base, `${name}.tar`);
    writeFileSync(file, flat);
    const dir = join(base, name);
    mkdirSync(dir);
    execFileSync('tar', ['-xf', file, '-C', dir]); // GNU tar: links must name earlier members
    const links = execFileSync('find', [dir, '-type', 'f', '-links', '+1', '-printf', '%P %i\n'], {
      encoding: 'utf8',
    });
    return { tree: contentsOf(dir), links: links.trim().split('\n').filter(Boolean).length };
  }

  test('a link group whose member an upper layer deleted keeps its content (and stays one group)', async () => {
    const lower = await layer({
      '/d/a': 'old',
      '/d/b': { type: 'link', linkname: '/d/a' },
      '/d/c': { type: 'link', linkname: '/d/a' },
    });
    const upper = await layer({ '/d/a': { type: 'whiteout' } });
    const { tree, links } = await flatTree('deleted-member', [lower, upper]);
    expect(tree).toEqual({ d: 'dir 755', 'd/b': 'old', 'd/c': 'old' });
    expect(links).toBe(2); // b and c are still one file
  });

  test('a link group whose member an upper layer rewrote keeps the old content; the new file stands alone', async () => {
    const lower = await layer({ '/h1': 'old', '/h2': { type: 'link', linkname: '/h1' } });
    const upper = await layer({ '/h1': 'new' });
    const { tree, links } = await flatTree('rewritten-member', [() => lower, () => upper]);
    expect(tree).toEqual({ h1: 'new', h2: 'old' });
    expect(links).toBe(0);
  });

  test('layers given as streams are read twice through a temp file', async () => {
    const lower = await gz({ '/x': 'kept', '/y': { type: 'link', linkname: '/x' } });
    const upper = await layer({ '/x': { type: 'whiteout' } });
    const flat = await collect(flattenLayers([Readable.from([lower]), Readable.from([upper])]));
    const dir = join(base, 'streams');
    await extract(flat, dir);
    expect(contentsOf(dir)).toEqual({ y: 'kept' });
  });
});

describe('readEntries', () => {
  test('yields headers and bodies in order; unread bodies are skipped', async () => {
    const tar = await gz({ '/a': 'A'.repeat(5000), '/b': 'B', '/c': 'C' });
    const seen: [string, string][] = [];
    for await (const { header, body } of readEntries(tar)) {
      if (header.name === 'a') continue; // never read
      seen.push([header.name, (await collect(body)).toString()]);
    }
    expect(seen).toEqual([
      ['b', 'B'],
      ['c', 'C'],
    ]);
  });
});
