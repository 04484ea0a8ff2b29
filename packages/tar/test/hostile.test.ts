import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { hostileTars } from '@pd/test-fixtures';
import { describe, expect, test } from 'vitest';
import { extract, TarFormatError, UnsafePathError } from '../src/index.js';
import { scratchDir } from './helpers.js';

const base = scratchDir('pd-hostile-');

/** Everything under `dir` except `skip`: type, mode, size, content hash, link target, mtime. */
function snapshot(dir: string, skip: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (p === skip) continue;
      const st = lstatSync(p);
      let what = `${st.mode.toString(8)} ${st.mtimeMs} ${st.ino}`;
      if (st.isFile()) what += ` ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
      if (st.isSymbolicLink()) what += ` -> ${readlinkSync(p)}`;
      out[p] = what;
      if (st.isDirectory()) visit(p);
    }
  };
  visit(dir);
  return out;
}

function sandbox(name: string) {
  const root = mkdtempSync(join(base, `${name}-`));
  const target = join(root, 'target');
  const outside = join(root, 'outside');
  mkdirSync(join(outside, 'sub'), { recursive: true });
  writeFileSync(join(outside, 'victim'), 'original');
  writeFileSync(join(outside, 'sub', 'file'), 'original');
  return { root, target, outside };
}

const etcPasswd = () => {
  const st = lstatSync('/etc/passwd');
  return `${st.ino} ${st.mtimeMs} ${st.size} ${st.nlink}`;
};

// The case list needs the sentinel path; one sandbox per run, so build names from a template.
const names = hostileTars('/x').map((c) => c.name);

describe.each(['throw', 'skip'] as const)('extract() against the hostile corpus (onUnsafe: %s)', (mode) => {
  test.each(names)('%s', async (name) => {
    const { root, target, outside } = sandbox(`${mode}-${name}`);
    const c = hostileTars(outside).find((x) => x.name === name)!;
    const before = snapshot(root, target);
    const passwd = etcPasswd();
    let error: unknown;
    try {
      await extract(c.bytes, target, { onUnsafe: mode });
    } catch (e) {
      error = e;
    }
    expect(snapshot(root, target), 'nothing outside the target may change').toEqual(before);
    expect(etcPasswd()).toBe(passwd);
    if (c.expect === 'unsafe') {
      if (mode === 'throw') expect(error).toBeInstanceOf(UnsafePathError);
      else expect(error).toBeUndefined();
    }
    if (c.expect === 'format') expect(error).toBeInstanceOf(TarFormatError);
    if (error !== undefined && !(error instanceof UnsafePathError) && !(error instanceof TarFormatError)) {
      throw error; // only typed errors are acceptable failures
    }
  });
});

describe('what the contained cases leave inside the target', () => {
  const run = async (name: string) => {
    const s = sandbox(`inside-${name}`);
    const c = hostileTars(s.outside).find((x) => x.name === name)!;
    let error: unknown;
    await extract(c.bytes, s.target).catch((e) => {
      error = e;
    });
    return { ...s, error };
  };

  test('absolute names land under the target', async () => {
    const { target, outside, error } = await run('absolute-file');
    expect(error).toBeUndefined();
    expect(readFileSync(join(target, outside, 'pwned-abs'), 'utf8')).toBe('pwned');
  });

  test('absolute symlinks are followed as if the target were the root', async () => {
    const { target, outside, error } = await run('symlink-abs-then-file');
    expect(error).toBeUndefined();
    expect(readFileSync(join(target, outside, 'pwned'), 'utf8')).toBe('pwned');
  });

  test('a file replaces a symlink instead of writing through it', async () => {
    const { target, error } = await run('symlink-overwrite-file');
    expect(error).toBeUndefined();
    expect(lstatSync(join(target, 'victim')).isFile()).toBe(true);
    expect(readFileSync(join(target, 'victim'), 'utf8')).toBe('pwned');
  });

  test('a directory entry over a symlink replaces the symlink', async () => {
    const { target, error } = await run('symlink-out-then-chmod-dir');
    expect(error).toBeUndefined();
    expect(lstatSync(join(target, 'evil')).isDirectory()).toBe(true);
  });

  test('hardlinks to absolute paths never reach the host file', async () => {
    const { target, error } = await run('hardlink-etc-passwd');
    expect(error).toBeInstanceOf(TarFormatError);
    expect(() => lstatSync(join(target, 'passwd'))).toThrow();
  });

  test('setuid and setgid bits are dropped unless asked for', async () => {
    const { target, error } = await run('setuid-file');
    expect(error).toBeUndefined();
    expect(lstatSync(join(target, 'suid')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(target, 'sgid')).mode & 0o7777).toBe(0o755);
  });

  test('device nodes and fifos are skipped unless asked for', async () => {
    const { target, error } = await run('device-nodes');
    expect(error).toBeUndefined();
    expect(readdirSync(target)).toEqual([]);
  });

  test('a directory replaced by a symlink is not written through (skip mode keeps the rest)', async () => {
    const s = sandbox('dir-symlink-skip');
    const c = hostileTars(s.outside).find((x) => x.name === 'dir-replaced-by-symlink')!;
    const skipped: string[] = [];
    await extract(c.bytes, s.target, { onUnsafe: 'skip', onSkip: (h) => skipped.push(h.name) });
    expect(skipped).toEqual(['d/pwned']);
    expect(readlinkSync(join(s.target, 'd'))).toBe('../outside');
  });
});
