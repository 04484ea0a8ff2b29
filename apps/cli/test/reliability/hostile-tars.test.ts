import { execFileSync } from 'node:child_process';
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
 * refusal in one line. Each case gets its own area: `target/` for the command, `outside/` (the
 * sentinel the corpus aims at, by `../outside` and by absolute path) beside it.
 */
const iso = isolatedEnv();
const NAMES = hostileTars('/nowhere').map((c) => c.name);
/**
 * One case per kind of attack, for the commands whose unpacking code other tests already run
 * against the whole corpus (layer extract is @pd/tar's extract(), tested case by case in
 * packages/tar): each process costs half a second of CLI start-up.
 */
const SAMPLE = [
  'dotdot-file',
  'absolute-file',
  'symlink-out-then-file',
  'hardlink-dotdot-then-write',
  'gnu-longname-escape',
  'pax-path-escape',
  'whiteout-escape',
  'device-nodes',
  'truncated-data',
  'huge-base256-size',
  'bad-checksum',
];
const PASSWD = readFileSync('/etc/passwd');

type Expect = typeof expect;

interface Area {
  dir: string;
  c: HostileTar;
  /** The verdicts every command owes: no hang, no crash, a clean refusal, nothing outside. */
  judge(x: Expect, r: PdResult): void;
}

/** A fresh area for one command and case: the corpus aimed at this area's sentinel. */
function area(kind: string, name: string): Area {
  const dir = join(iso.dir, kind, name);
  const outside = join(dir, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'victim'), 'original\n');
  const before = snapshot(outside);
  const c = hostileTars(outside).find((h) => h.name === name)!;
  return {
    dir,
    c,
    judge(x, r) {
      x(r.code, `${name} was killed (hang?) ${r.stderr}`).not.toBeNull();
      if (r.code !== 0) expectCleanFailure(r);
      if (c.expect === 'format') x(r.code, `${name}: a malformed archive was accepted`).toBe(1);
      x(snapshot(outside), `${name} wrote outside its target`).toEqual(before);
      x(readFileSync('/etc/passwd').equals(PASSWD)).toBe(true);
    },
  };
}

afterAll(() => iso.cleanup());

describe.concurrent('pd export IMAGE DIR: nothing outside DIR, one-line refusals, no hang', () => {
  it.for(NAMES)('%s', async (name, { expect: x }) => {
    const { dir, c, judge } = area('export-dir', name);
    const layout = writeLayout(join(dir, 'image'), [c.bytes]);
    const before = snapshot(layout);
    const r = await pd(['export', layout, join(dir, 'target')], { env: iso.env, timeout: 30_000 });
    judge(x, r);
    x(snapshot(layout)).toEqual(before);
    x(tree(dir).filter((p) => !/^(image|target|outside)(\/|$)/.test(p))).toEqual([]);
  });
});

describe.concurrent('pd export IMAGE FILE.tar: no entry of the result climbs out, nothing else written', () => {
  it.for(SAMPLE)('%s', async (name, { expect: x }) => {
    const { dir, c, judge } = area('export-tar', name);
    const layout = writeLayout(join(dir, 'image'), [c.bytes]);
    const out = join(dir, 'rootfs.tar');
    const r = await pd(['export', layout, out], { env: iso.env, timeout: 30_000 });
    judge(x, r);
    x(tree(dir).filter((p) => !/^(image|outside)(\/|$)/.test(p))).toEqual(r.code === 0 ? ['rootfs.tar'] : []);
    if (r.code === 0) {
      // GNU tar lists names as stored (it rewrites them only when extracting).
      for (const entry of execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).split('\n')) {
        x(entry.split('/'), `${name}: ${entry}`).not.toContain('..');
      }
    }
  });
});

describe.concurrent('pd layer extract FILE DIR: refused or contained', () => {
  it.for(SAMPLE)('%s', async (name, { expect: x }) => {
    const { dir, c, judge } = area('extract', name);
    writeFileSync(join(dir, 'layer.tar'), c.bytes);
    const r = await pd(['layer', 'extract', join(dir, 'layer.tar'), join(dir, 'target')], {
      env: iso.env,
      timeout: 30_000,
    });
    judge(x, r);
    if (c.expect === 'unsafe') expectCleanFailure(r, /unsafe/);
    x(tree(dir).filter((p) => !/^(target|outside)(\/|$)/.test(p))).toEqual(['layer.tar']);
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
    it.for(NAMES)('%s', async (name, { expect: x }) => {
      const { dir, c, judge } = area('run', name);
      const layout = writeLayout(join(dir, 'image'), [busybox, c.bytes]);
      const cache = join(dir, 'cache');
      const r = await pd(['run', '--rm', layout, '/bin/true'], {
        env: { ...iso.env, PD_CACHE_DIR: cache },
        timeout: 60_000,
      });
      judge(x, r);
      // Unpacked layers live in <cache>/layers/sha256/<hex>/fs: a planted file anywhere else escaped.
      const planted = tree(cache).filter((p) => /pwned|victim/.test(p.split('/').at(-1) ?? ''));
      for (const p of planted) x(p, name).toMatch(/^layers\/sha256\/[0-9a-f]{64}\/fs\//);
      x(tree(dir).filter((p) => !/^(image|cache|outside)(\/|$)/.test(p))).toEqual([]);
    });
  });
