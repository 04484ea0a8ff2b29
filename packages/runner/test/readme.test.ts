import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { bundleScript, removeScripts } from './helpers/child.js';
import { exec, runtimeSkip } from './helpers/harness.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));

describe.skipIf(runtimeSkip())('README', () => {
  const dir = mkdtempSync(join(pkg, 'test', '.readme-'));
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await removeScripts();
  });

  test('the example runs and prints what the README says', async () => {
    const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    const file = join(dir, 'example.ts');
    writeFileSync(file, code!.replace("from '@pd/runner'", `from '${join(pkg, 'src', 'index.ts')}'`));
    // Its own process: the containers write to the inherited stdout, as they would for a user.
    const r = await exec(process.execPath, [await bundleScript(file)], {
      env: { ...process.env, PD_CACHE_DIR: join(dir, 'cache') },
    });
    expect(r.stderr).toBe('');
    const said = /It prints ([\s\S]*?)\.\n/.exec(readme)?.[1]?.replace(/\n/g, ' ');
    const expected = [...(said ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    expect(r.stdout.trim().split('\n')).toEqual(expected);
    expect(r.exitCode).toBe(0);
  });
});
