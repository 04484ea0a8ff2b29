import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isolatedEnv, PD_BUNDLE, PD_MAIN } from './helpers.js';

/**
 * pd's executables run as users run them (by their `#!` line, through a symlink as npm installs
 * them): none of pd's options may reach Node's own option parser. Node 20 exits 9 on
 * `--env-file ./missing.env` wherever it stands on its command line.
 */
describe('the pd executables', () => {
  const iso = isolatedEnv();
  afterAll(() => iso.cleanup());
  // The directory of the node running the tests, for the launcher's `exec node`.
  const env = { ...iso.env, PATH: `${dirname(process.execPath)}:${iso.env.PATH ?? ''}` };

  const bundle = join(iso.dir, 'pd.mjs');
  copyFileSync(PD_BUNDLE, bundle);
  const link = join(iso.dir, 'pd');
  symlinkSync(PD_MAIN, link);

  for (const [name, file] of [
    ['dist/main.js', PD_MAIN],
    ['dist/main.js through a symlink', link],
    ['the bundle', bundle],
  ] as const) {
    it(`${name}: pd run --env-file with a missing file is pd's error, not Node's`, () => {
      const r = spawnSync(file, ['run', '--env-file', './missing.env', '--rm', 'nothing.tar', 'true'], {
        cwd: iso.dir,
        env,
        encoding: 'utf8',
      });
      // pd's own answer (here about the image, checked first), never `node: ./missing.env: not found`.
      expect(r.stderr).toMatch(/^pd: [^\n]*nothing\.tar[^\n]*\n$/);
      expect(r.status).toBe(1);
      const v = spawnSync(file, ['version', '--env-file=x'], { cwd: iso.dir, env, encoding: 'utf8' });
      expect(v.stderr).toMatch(/^pd: unknown option --env-file/);
      expect(v.status).toBe(2);
    });
  }

  it('both start with the launcher, which JavaScript reads as a string and a comment', () => {
    for (const file of [PD_MAIN, PD_BUNDLE]) {
      expect(readFileSync(file, 'utf8').split('\n').slice(0, 2)).toEqual([
        '#!/bin/sh',
        '":" // ; exec node -- "$0" "$@"',
      ]);
    }
  });
});
