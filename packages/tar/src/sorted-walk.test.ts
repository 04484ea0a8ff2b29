import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { collect, scratchDir } from '../test/helpers.js';
import { type PathPair, readEntries, tarPaths } from './index.js';

// The walk that writes entries as it finds them must give the tar that planning the whole tree
// and sorting it gives (a filter, which may rename entries, takes that way): same bytes.

const base = scratchDir('pd-sorted-walk-');
let trees = 0;

/** Files (path → content), directories (trailing '/'), symlinks ('-> target') and hardlinks ('=> other'). */
function tree(spec: Record<string, string>): string {
  const root = join(base, `t${trees++}`);
  mkdirSync(root);
  for (const [path, what] of Object.entries(spec)) {
    const at = join(root, path);
    mkdirSync(path.endsWith('/') ? at : dirname(at), { recursive: true });
    if (path.endsWith('/')) continue;
    if (what.startsWith('-> ')) symlinkSync(what.slice(3), at);
    else if (what.startsWith('=> ')) linkSync(join(root, what.slice(3)), at);
    else writeFileSync(at, what);
  }
  return root;
}

const streamed = (pairs: PathPair[], prefix?: string) => collect(tarPaths(pairs, prefix ? { prefix } : {}));
const planned = (pairs: PathPair[], prefix?: string) =>
  collect(tarPaths(pairs, { filter: () => true, ...(prefix ? { prefix } : {}) }));

describe('the walk in sorted order', () => {
  test('names that sort apart from their parents, pairs that overlap, made-up parents, hardlinks', async () => {
    const one = tree({
      a: 'file a',
      'a-b': 'a file where another pair puts a directory',
      'a.b/c': 'c',
      'a0/x': 'x',
      'ab/': '',
      'b/c/d/e': 'deep',
      'é/ü': 'utf-8',
      h1: 'linked',
      h2: '=> h1',
      'z/h3': '=> h1',
      s: '-> a-b',
    });
    const two = tree({ 'x/y': 'from two', 'c/d/e': 'replaces deep', 'c/d/f': 'beside it' });
    const three = tree({ k: 'in three' });
    const pairs: PathPair[] = [
      { src: one, dest: '/' },
      { src: two, dest: '/b' },
      { src: join(three, 'k'), dest: '/deep/er/k' },
      { src: two, dest: '/a-b' },
      { src: join(one, 'h1'), dest: '/g/h0' },
    ];
    const tar = await streamed(pairs);
    expect(tar.equals(await planned(pairs))).toBe(true);
    const names: string[] = [];
    for await (const { header, body } of readEntries(tar)) {
      body.resume();
      names.push(`${header.name}${header.type === 'link' ? ` => ${header.linkname}` : ''}`);
    }
    expect(names).toEqual([
      'a',
      'a-b/',
      'a-b/c/',
      'a-b/c/d/',
      'a-b/c/d/e',
      'a-b/c/d/f',
      'a-b/x/',
      'a-b/x/y',
      'a.b/',
      'a.b/c',
      'a0/',
      'a0/x',
      'ab/',
      'b/',
      'b/c/',
      'b/c/d/',
      'b/c/d/e',
      'b/c/d/f',
      'b/x/',
      'b/x/y',
      'deep/',
      'deep/er/',
      'deep/er/k',
      'g/',
      'g/h0',
      'h1 => g/h0',
      'h2 => g/h0',
      's',
      'z/',
      'z/h3 => g/h0',
      'é/',
      'é/ü',
    ]);
    // Under a prefix as well.
    expect((await streamed(pairs, '/opt/p')).equals(await planned(pairs, '/opt/p'))).toBe(true);
  });

  test('names past U+FFFF sort by their UTF-8 bytes, after U+E000-U+FFFF (as GNU tar --sort=name)', async () => {
    // As UTF-16 units a surrogate pair (U+D800-U+DFFF) sorts before U+E000; as bytes, after.
    const names = ['x\u{1F600}', 'x\uFFFD', 'x\uE000', 'xa', 'x\u00e9', 'x\u{10000}', 'x\uD7FF', 'x'];
    const root = tree(Object.fromEntries(names.map((n) => [n, n])));
    const tar = await streamed([{ src: root, dest: '/' }]);
    const order: string[] = [];
    for await (const { header, body } of readEntries(tar)) {
      body.resume();
      order.push(header.name);
    }
    const byBytes = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(order).toEqual(byBytes);
    // GNU tar says the same.
    const gnu = execFileSync('tar', ['--sort=name', '-C', root, '-cf', '-', '.'])
      .toString('latin1')
      .match(/\.\/[^\0]+/g)!
      .filter((n) => n !== './')
      .map((n) => Buffer.from(n.slice(2), 'latin1').toString('utf8'));
    expect(order).toEqual(gnu);
    expect(tar.equals(await planned([{ src: root, dest: '/' }]))).toBe(true);
  });

  test('random trees and pairs: the same bytes as planning the whole tree', async () => {
    const name = fc.constantFrom('a', 'b', 'a-b', 'a.b', 'a0', 'ab', 'é', 'a b');
    const path = fc.array(name, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(path, { minLength: 1, maxLength: 25 }),
        fc.array(fc.tuple(fc.nat(), path), { maxLength: 3 }),
        async (paths, extra) => {
          // A path that is a prefix of another is a directory; the rest are files.
          const spec: Record<string, string> = {};
          for (const p of paths)
            spec[paths.some((q) => q.startsWith(`${p}/`)) ? `${p}/` : p] = `content of ${p}`;
          const root = tree(spec);
          const pairs: PathPair[] = [{ src: root, dest: '/' }];
          for (const [i, dest] of extra)
            pairs.push({ src: join(root, paths[i % paths.length]!), dest: `/${dest}` });
          const ok = (await streamed(pairs)).equals(await planned(pairs));
          rmSync(root, { recursive: true, force: true });
          return ok;
        },
      ),
      { numRuns: 60 },
    );
  });
});
