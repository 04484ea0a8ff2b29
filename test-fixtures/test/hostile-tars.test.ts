import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { hostileTars, rawHeader } from '../src/hostile-tars.js';
import { missingTools } from '../src/tools.js';

// The corpus is checked with GNU tar, never with @pd/tar: the bytes must say what each case claims.
describe.skipIf(missingTools('tar'))('hostile tar corpus (read by GNU tar)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pd-hostile-fixture-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cases = hostileTars('/nonexistent-outside');
  const list = (name: string) => {
    const file = join(dir, `${name}.tar`);
    writeFileSync(file, cases.find((c) => c.name === name)!.bytes);
    return spawnSync('tar', ['-tvf', file], { encoding: 'utf8' });
  };

  test('headers carry a valid checksum by construction', () => {
    const h = rawHeader({ name: 'x', size: 3 });
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    expect(Number.parseInt(h.toString('latin1', 148, 154), 8)).toBe(sum);
  });

  test('every case has a unique name and a known expectation', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    for (const c of cases) expect(['unsafe', 'format', 'any']).toContain(c.expect);
  });

  test('escaping names are stored verbatim', () => {
    expect(list('dotdot-file').stdout).toContain('../outside/pwned');
    expect(list('gnu-longname-escape').stdout).toContain('../outside/pwned-long');
    expect(list('pax-path-escape').stdout).toContain('../outside/pwned-pax');
    expect(list('symlink-out-then-file').stdout).toMatch(/evil -> \.\.\/outside/);
    // GNU tar prints the target without its leading slash (and says so on stderr).
    expect(list('hardlink-etc-passwd').stderr).toContain("leading `/' from hard link targets");
    expect(list('absolute-file').stdout).toContain('/nonexistent-outside/pwned-abs');
  });

  test('device, fifo and setuid entries are what they claim', () => {
    const dev = list('device-nodes').stdout;
    expect(dev).toMatch(/^c.* 1,3 .*null2$/m);
    expect(dev).toMatch(/^b.* 8,9 .*sda9$/m);
    expect(dev).toMatch(/^p.*pipe$/m);
    expect(list('setuid-file').stdout).toMatch(/^-rwsr-xr-x .*suid$/m);
  });

  test('malformed cases are malformed for GNU tar too', () => {
    for (const name of ['bad-checksum', 'truncated-data', 'huge-size']) {
      const r = list(name);
      expect(r.status, `${name}: ${r.stderr}`).not.toBe(0);
    }
    // GNU tar tolerates a short final record; the bytes still end mid-header.
    expect(cases.find((c) => c.name === 'truncated-header')!.bytes.length % 512).toBe(300);
  });

  test('well-formed cases list without error', () => {
    for (const c of cases.filter((x) => x.expect !== 'format')) {
      const file = join(dir, `${c.name}.tar`);
      writeFileSync(file, c.bytes);
      expect(() => execFileSync('tar', ['-tf', file], { stdio: 'pipe' }), c.name).not.toThrow();
    }
  });
});
