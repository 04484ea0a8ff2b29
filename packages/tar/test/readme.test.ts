import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test, vi } from 'vitest';

const pkg = fileURLToPath(new URL('..', import.meta.url));
// Inside the package so that vite resolves and transforms it like any source file.
const dir = mkdtempSync(join(pkg, 'test', '.readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the README example runs and prints what it says', async () => {
  const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const file = join(dir, 'example.ts');
  writeFileSync(file, code!.replace("from '@pd/tar'", `from '${join(pkg, 'src', 'index.ts')}'`));
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.join(' '));
  });
  try {
    await import(file);
  } finally {
    spy.mockRestore();
  }
  expect(lines[0]).toMatch(
    /^application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip sha256:[0-9a-f]{64} sha256:[0-9a-f]{64}$/,
  );
  expect(lines[1]).toMatch(/^application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd \d+$/);
  expect(lines).toContain('file etc/app.conf');
  expect(lines).toContain('file usr/bin/.wh.old');
  expect(lines).toContain('port=9090\n');
  expect(lines.at(-1)).toMatch(/^\d+ entries$/);
});
