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
  writeFileSync(file, code!.replace("from '@pd/sbom'", `from '${join(pkg, 'src', 'index.ts')}'`));
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.join(' '));
  });
  try {
    await import(file);
  } finally {
    spy.mockRestore();
  }
  expect(lines).toEqual([
    'pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3 GPL-2.0-only',
    'pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3 MIT',
    'pkg:pypi/six@1.16.0 MIT',
    'SPDX-2.3 2024-01-01T00:00:00Z',
    'application/vnd.cyclonedx+json sbom.cdx.json',
  ]);
});
