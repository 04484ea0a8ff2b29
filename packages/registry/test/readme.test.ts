import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunningRegistry, registryMissing, startRegistry } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

describe.skipIf(registryMissing())('README example', () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('runs as written against the real registry', async () => {
    const readme = readFileSync(join(here, '../README.md'), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    // The only change: the package name resolves to this checkout's sources.
    const file = join(here, `.readme-example-${process.pid}.ts`);
    writeFileSync(file, (code ?? '').replace("from '@pd/registry'", "from '../src/index.js'"));
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
    });
    process.env.REGISTRY = registry.host;
    try {
      await import(file);
    } finally {
      spy.mockRestore();
      delete process.env.REGISTRY;
      rmSync(file, { force: true });
    }
    const configSize = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
    }).length;
    expect(lines).toEqual([
      `moved ${configSize} bytes`,
      'manifest true application/vnd.oci.image.manifest.v1+json',
      `moved ${configSize} bytes`,
      'config true',
      'tags ["v1"]',
    ]);
    // What the example pushed is really there, seen without pd.
    const res = await fetch(`${registry.url}/v2/demo/hello/tags/list`);
    expect(await res.json()).toEqual({ name: 'demo/hello', tags: ['v1'] });
  });
});
