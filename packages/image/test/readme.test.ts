import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { docker } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { type Env, fixturesMissing, startEnv } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));

describe.skipIf(fixturesMissing())('README example', () => {
  let env: Env;
  let out: string;
  beforeAll(async () => {
    env = await startEnv();
    out = mkdtempSync(join(tmpdir(), 'pd-readme-'));
  });
  afterAll(async () => {
    rmSync(out, { recursive: true, force: true });
    await env?.stop();
  });

  test('runs as written; docker loads what it wrote and runs what it pushed', async () => {
    const readme = readFileSync(join(here, '../README.md'), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    // The only change: the package name resolves to this checkout's sources.
    const file = join(here, `.readme-example-${process.pid}.ts`);
    writeFileSync(file, (code ?? '').replace("from '@pd/image'", "from '../src/index.js'"));
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    });
    Object.assign(process.env, { REGISTRY: env.registry.host, BASE: env.fixtures.small.ref, OUT: out });
    try {
      await import(file);
    } finally {
      spy.mockRestore();
      for (const k of ['REGISTRY', 'BASE', 'OUT']) delete process.env[k];
      rmSync(file, { force: true });
    }
    expect(lines).toEqual(['base layers 3', 'layers now 4', 'pushed true v1', 'run RUNNER_MISSING']);

    const tag = `${env.registry.host}/examples/custom:v1`;
    const script = 'cat /this/is/a/test1; sh /app/main.sh; ls /app; echo "FOO=$FOO"';
    const expected = 'this is test 1\nhello from the app\nmain.sh\nFOO=BAR\n';
    // What it pushed.
    const pulled = await docker([
      'run',
      '--rm',
      '--pull',
      'always',
      '--network',
      'none',
      tag,
      'sh',
      '-c',
      script,
    ]);
    expect(pulled.stdout).toBe(expected);
    expect((await docker(['run', '--rm', '--network', 'none', tag])).stdout).toBe('this is test 1\n');
    await docker(['image', 'rm', tag]);
    // What it wrote.
    const loaded = await docker(['load', '-i', join(out, 'example-filter.tar')]);
    expect(loaded.stdout).toContain(tag);
    expect((await docker(['run', '--rm', '--network', 'none', tag, 'sh', '-c', script])).stdout).toBe(
      expected,
    );
    await docker(['image', 'rm', tag]);
  });
});
