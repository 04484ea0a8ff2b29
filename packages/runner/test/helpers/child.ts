import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { RunOptions } from '../../src/index.js';

const made: string[] = [];

/** Remove the scripts bundled by this test process (call from afterAll). */
export async function removeScripts(): Promise<void> {
  bundled = undefined;
  for (const d of made.splice(0)) await rm(d, { recursive: true, force: true });
}

/** Bundle a TypeScript entry (and the workspace sources it imports) into one ESM script. */
export async function bundleScript(entry: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pd-runner-script-'));
  made.push(dir);
  const out = join(dir, 'script.mjs');
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@pd/source'],
    logLevel: 'error',
    // Bundled CommonJS dependencies still call require() for Node's modules.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  return out;
}

let bundled: Promise<string> | undefined;

/**
 * The runner as a stand-alone script (bundled from the sources with esbuild, once per test
 * process), for tests that must signal it or give it a terminal like a user's shell would.
 */
export function childScript(): Promise<string> {
  bundled ??= bundleScript(join(import.meta.dirname, 'child-main.ts'));
  return bundled;
}

/** argv for `node child.mjs` running `input` with `options`. */
export async function childArgs(input: string, options: RunOptions): Promise<string[]> {
  return [await childScript(), JSON.stringify({ input, options })];
}
