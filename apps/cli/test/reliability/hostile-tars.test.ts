import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  busyboxMissing,
  busyboxRootfsTar,
  type HostileTar,
  hostileTars,
  runcMissing,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, type expect, it } from 'vitest';
import { writeLayout } from './layout.js';
import { expectCleanFailure, isolatedEnv, type PdResult, pd, snapshot, tree } from './support.js';

/**
 * Every archive of the hostile-tar corpus as a layer of an image (an OCI layout written by hand),
 * through each command that unpacks or re-packs layers. Whatever a command decides (refuse, skip,
 * succeed), it must not write outside its target, must not crash or hang, and must explain a
 * refusal in one line. `outside` is the sentinel the corpus aims at (a sibling of every target).
 */
const iso = isolatedEnv();
const cases = hostileTars(join(iso.dir, 'outside'));
const PASSWD = readFileSync('/etc/passwd');

function sentinel(): void {
  const outside = join(iso.dir, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'victim'), 'original\n');
}

/** The work area of one case: what lies outside its target must not change. */
function caseDir(kind: string, c: HostileTar): string {
  const dir = join(iso.dir, kind, c.name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

type Expect = typeof expect;

/** The verdicts every command owes: no hang, no crash, a clean refusal, nothing outside. */
function judge(x: Expect, r: PdResult, c: HostileTar, outsideBefore: Record<string, string>): void {
  x(r.code, `${c.name} was killed (hang?) ${r.stderr}`).not.toBeNull();
  if (r.code !== 0) expectCleanFailure(r);
  if (c.expect === 'format') x(r.code, `${c.name}: a malformed archive was accepted`).toBe(1);
  x(snapshot(join(iso.dir, 'outside'))).toEqual(outsideBefore);
  x(readFileSync('/etc/passwd').equals(PASSWD)).toBe(true);
}

let outsideBefore: Record<string, string>;
beforeAll(() => {
  sentinel();
  outsideBefore = snapshot(join(iso.dir, 'outside'));
});
afterAll(() => iso.cleanup());

describe.concurrent('pd export IMAGE DIR: nothing outside DIR, one-line refusals, no hang', () => {
  it.for(cases)('$name', async (c, { expect: x }) => {
    const dir = caseDir('export-dir', c);
    const layout = writeLayout(join(dir, 'image'), [c.bytes]);
    const before = snapshot(layout);
    const r = await pd(['export', layout, join(dir, 'target')], { env: iso.env, timeout: 30_000 });
    judge(x, r, c, outsideBefore);
    x(snapshot(layout)).toEqual(before);
    x(tree(dir).filter((p) => !p.startsWith('image') && !p.startsWith('target'))).toEqual([]);
  });
});

describe.concurrent('pd export IMAGE FILE.tar: no entry of the result climbs out, nothing else written', () => {
  it.for(cases)('$name', async (c, { expect: x }) => {
    const dir = caseDir('export-tar', c);
    const layout = writeLayout(join(dir, 'image'), [c.bytes]);
    const out = join(dir, 'rootfs.tar');
    const r = await pd(['export', layout, out], { env: iso.env, timeout: 30_000 });
    judge(x, r, c, outsideBefore);
    x(tree(dir).filter((p) => !p.startsWith('image'))).toEqual(r.code === 0 ? ['rootfs.tar'] : []);
    if (r.code === 0) {
      const ls = await pd(['layer', 'ls', '--json', out], { env: iso.env, timeout: 30_000 });
      x(ls.code, ls.stderr).toBe(0);
      for (const e of JSON.parse(ls.stdout) as Array<{ name: string }>) {
        x(e.name.split('/'), `${c.name}: ${e.name}`).not.toContain('..');
      }
    }
  });
});

describe.concurrent('pd layer extract FILE DIR: refused or contained', () => {
  it.for(cases)('$name', async (c, { expect: x }) => {
    const dir = caseDir('extract', c);
    writeFileSync(join(dir, 'layer.tar'), c.bytes);
    const r = await pd(['layer', 'extract', join(dir, 'layer.tar'), join(dir, 'target')], {
      env: iso.env,
      timeout: 30_000,
    });
    judge(x, r, c, outsideBefore);
    if (c.expect === 'unsafe') expectCleanFailure(r, /unsafe/);
    x(tree(dir).filter((p) => !p.startsWith('target'))).toEqual(['layer.tar']);
  });
});

const noRunc = runcMissing() ?? busyboxMissing();
describe
  .skipIf(noRunc)
  .concurrent('pd run (busybox + the hostile layer): nothing escapes the layer store', () => {
    let busybox: Buffer;
    beforeAll(async () => {
      const base = join(iso.dir, 'busybox.tar');
      await busyboxRootfsTar(base);
      busybox = readFileSync(base);
    });
    it.for(cases)('$name', async (c, { expect: x }) => {
      const dir = caseDir('run', c);
      const layout = writeLayout(join(dir, 'image'), [busybox, c.bytes]);
      const cache = join(dir, 'cache');
      const r = await pd(['run', '--rm', layout, '/bin/true'], {
        env: { ...iso.env, PD_CACHE_DIR: cache },
        timeout: 60_000,
      });
      judge(x, r, c, outsideBefore);
      // Unpacked layers live in <cache>/layers/sha256/<hex>/fs: a planted file anywhere else escaped.
      const planted = tree(cache).filter((p) => /pwned|victim/.test(p.split('/').at(-1) ?? ''));
      for (const p of planted) x(p, c.name).toMatch(/^layers\/sha256\/[0-9a-f]{64}\/fs\//);
      x(tree(dir).filter((p) => !p.startsWith('image') && !p.startsWith('cache'))).toEqual([]);
    });
  });
