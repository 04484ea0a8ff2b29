import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, vi } from 'vitest';
import { parseSpec } from '../src/index.js';

const example = readFileSync(new URL('../examples/build.ts', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('the README shows the example file as it is', () => {
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
});

test('the README documents a pd.yaml that validates', () => {
  const yaml = /## pd\.yaml\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(yaml).toBeDefined();
  const spec = parseSpec(yaml!);
  expect(Object.keys(spec).sort()).toEqual([
    'base',
    'conda',
    'config',
    'files',
    'layers',
    'name',
    'platform',
    'run',
    'tag',
  ]);
  expect(Object.keys(spec.config!).length).toBe(9);
  expect(spec.run).toHaveLength(3);
});

test('the example builds the pd.yaml it writes', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'pd-build-readme-'));
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.join(' '));
  });
  process.env.OUT = join(tmp, 'hello.tar');
  try {
    await import('../examples/build.js');
    expect(lines).toEqual(['pd-examples/hello:latest', '2 layers', '/app/hello.sh']);
    expect(existsSync(join(tmp, 'hello.tar'))).toBe(true);
  } finally {
    vi.restoreAllMocks();
    delete process.env.OUT;
    await rm(tmp, { recursive: true, force: true });
  }
});
