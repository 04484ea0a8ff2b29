#!/usr/bin/env node
// What loading undici costs a cold process: its public index (which loads fetch, WebSocket,
// caches, mocks and interceptors too) against the two modules @pd/registry's transport loads
// without a proxy (lib/dispatcher/agent.js and lib/api/api-request.js). The difference is why
// packages/registry/src/transport/undici.ts loads those by path (guarded by
// packages/registry/test/undici-internals.test.ts). Each sample is a fresh `node` process; the
// sides alternate. Standalone: node bench/cases/undici-load.mjs [iterations]; prints a table and
// writes bench/results/undici-load.md.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from '../lib/measure.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const registryRequire = createRequire(join(HERE, '..', '..', 'packages', 'registry', 'package.json'));
const undiciDir = dirname(registryRequire.resolve('undici/package.json'));
const version = registryRequire('undici/package.json').version;

const SIDES = {
  'undici index': [join(undiciDir, 'index.js')],
  'Agent + request() modules': [
    join(undiciDir, 'lib', 'dispatcher', 'agent.js'),
    join(undiciDir, 'lib', 'api', 'api-request.js'),
  ],
};

/** Milliseconds to require `files` in a fresh process (measured inside it, process start excluded). */
function sample(files) {
  const code = `const t = performance.now(); for (const f of ${JSON.stringify(files)}) require(f); process.stdout.write(String(performance.now() - t));`;
  return Number(execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' }));
}

export async function run({ iterations = 15 } = {}) {
  const times = Object.fromEntries(Object.keys(SIDES).map((k) => [k, []]));
  for (let i = 0; i < iterations + 1; i++) {
    const order = Object.keys(SIDES);
    if (i % 2) order.reverse();
    for (const side of order) {
      const ms = sample(SIDES[side]);
      if (i > 0) times[side].push(ms); // the first round warms the page cache
    }
  }
  return Object.entries(times).map(([side, xs]) => ({ side, medianMs: median(xs), minMs: Math.min(...xs) }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const iterations = Number(process.argv[2] ?? 15);
  const rows = await run({ iterations });
  const lines = [
    `# undici load cost (${new Date().toISOString().slice(0, 10)})`,
    '',
    `undici ${version}, Node ${process.version}, ${iterations} fresh processes per side, alternating.`,
    '',
    '| what is loaded | median ms | min ms |',
    '|---|---|---|',
    ...rows.map((r) => `| ${r.side} | ${r.medianMs.toFixed(1)} | ${r.minMs.toFixed(1)} |`),
    '',
  ];
  console.log(lines.join('\n'));
  await writeFile(join(HERE, '..', 'results', 'undici-load.md'), lines.join('\n'));
}
