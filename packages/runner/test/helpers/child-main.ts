import type { PdError } from '@pd/oci-types';
import { type RunOptions, run } from '../../src/index.js';

// A tiny `pd run` for tests that need the runner in a process of its own (signals, inherited
// stdio, terminals): `node child.mjs '<json {input, options}>'`; exits with the container's code.

const { input, options } = JSON.parse(process.argv[2] ?? '{}') as { input: string; options: RunOptions };
const verbose = process.env.PD_CHILD_VERBOSE === '1';
try {
  const r = await run(input, {
    ...options,
    ...(verbose ? { onLog: (e) => process.stderr.write(`[pd] ${e.message}\n`) } : {}),
  });
  if (process.env.PD_CHILD_RESULT) process.stderr.write(`[result] ${JSON.stringify(r)}\n`);
  process.exitCode = r.exitCode;
} catch (e) {
  const err = e as PdError & { exitCode?: number };
  process.stderr.write(`pd: ${err.message}${err.hint ? ` (${err.hint})` : ''}\n`);
  process.exitCode = err.exitCode ?? 125;
}
