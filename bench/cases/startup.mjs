#!/usr/bin/env node
// Start-up: `pd --help` and `pd version` against `node -e 0`, Node starting and exiting with no
// code of its own, which is both the peer and the floor of every pd command (issue 15: ≤ 1.3×).
// Standalone: pnpm build && node bench/cases/startup.mjs [iterations]
import { fileURLToPath } from 'node:url';
import { nodeStart } from '../lib/floors.mjs';
import { alternate } from '../lib/measure.mjs';
import { pdArgv, pdCommandMissing } from '../lib/pd.mjs';
import { notRun, pairResult } from '../lib/result.mjs';
import { command } from '../lib/sides.mjs';

const TARGET = { target: '≤ 1.3×', maxRatio: 1.3 };
const JOBS = {
  'pd --help': ['--help'],
  'pd version': ['version'],
};

export async function run({ ctx, iterations = 5, warmups = 1 } = {}) {
  const missing = await pdCommandMissing('version');
  if (missing) return Object.keys(JOBS).map((name) => notRun(`start-up: ${name}`, TARGET.target, missing));
  const sides = {
    ...Object.fromEntries(Object.entries(JOBS).map(([name, args]) => [name, command(pdArgv(...args))])),
    ...nodeStart(),
  };
  ctx.log(`[startup] ${Object.keys(sides).join(', ')}, ${iterations} rounds`);
  const r = await alternate(sides, { iterations, warmups, log: ctx.log });
  const node = r['node -e 0'];
  return Object.keys(JOBS).map((name) =>
    pairResult({
      name: `start-up: ${name}`,
      pd: r[name],
      peer: { name: 'node -e 0', ...node },
      pdCommand: `pd ${JOBS[name].join(' ')}`,
      peerCommand: `${process.execPath} -e 0`,
      ...TARGET,
      floors: [{ name: 'node -e 0 (the peer)', medianMs: Math.round(node.medianMs) }],
      notes: [`pd is ${Math.round(r[name].medianMs - node.medianMs)} ms above Node's own start-up`],
    }),
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const log = (m) => process.stderr.write(`${m}\n`);
  console.log(JSON.stringify(await run({ ctx: { log }, iterations: Number(process.argv[2] ?? 5) }), null, 2));
}
