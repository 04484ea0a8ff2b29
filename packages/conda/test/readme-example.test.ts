import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { condaPathExists, condaToolsMissing } from '@pd/test-fixtures';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { type Env, fixtureEnv } from './helpers.js';

const example = readFileSync(new URL('../examples/build-env.ts', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('the README shows the example file as it is', () => {
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
});

let env: Env;
beforeAll(async () => {
  if (!condaToolsMissing()) env = await fixtureEnv();
});
afterAll(async () => env?.cleanup());

test.skipIf(condaToolsMissing())('the example builds the environment it describes', async () => {
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.join(' '));
  });
  process.env.CONDA_CHANNEL = env.http.url;
  process.env.OUT = join(env.root, 'hello-env.tar');
  try {
    await import('../examples/build-env.js');
  } finally {
    vi.restoreAllMocks();
    delete process.env.CONDA_CHANNEL;
    delete process.env.OUT;
  }
  expect(lines).toEqual([
    'sh=1.0 hello=2.0',
    '3 layers',
    'PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  ]);
  expect(await condaPathExists(join(env.root, 'hello-env.tar'))).toBe(true);
});
