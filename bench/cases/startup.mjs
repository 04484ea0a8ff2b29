#!/usr/bin/env node
// Start-up: `pd --help` and `pd version` against `node -e 0`, Node starting and exiting with no
// code of its own, which is both the peer and the floor of every pd command (issue 15: ≤ 1.3×).
// Floor-side lever: Node started from a user-land start-up snapshot that holds nothing (see
// emptySnapshot), the least a snapshot of pd's loaded modules would cost.
// Standalone: pnpm build && node bench/cases/startup.mjs [iterations]
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nodeStart } from '../lib/floors.mjs';
import { alternate } from '../lib/measure.mjs';
import { pdArgv, pdCommandMissing } from '../lib/pd.mjs';
import { notRun, pairResult } from '../lib/result.mjs';
import { command } from '../lib/sides.mjs';

const TARGET = { target: '≤ 1.3×', maxRatio: 1.3 };
const SNAPSHOT = 'node from an empty start-up snapshot';

/**
 * A start-up snapshot (`node --build-snapshot`) would skip loading pd's modules: V8 deserializes a
 * heap saved after they ran. Its least cost is a snapshot holding nothing of its own; if Node
 * starts from that slower than from its built-in one (`node -e 0`), no snapshot of pd beats
 * loading the modules. Undefined where this Node cannot build one.
 */
async function emptySnapshot(dir, log) {
  const entry = join(dir, 'entry.cjs');
  await writeFile(entry, "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {});\n");
  const blob = join(dir, 'empty.blob');
  try {
    await promisify(execFile)(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', entry]);
    return blob;
  } catch (e) {
    log(`[startup] no start-up snapshot floor: ${e.message.split('\n')[0]}`);
    return undefined;
  }
}

const JOBS = {
  'pd --help': ['--help'],
  'pd version': ['version'],
};

export async function run({ ctx, iterations = 5, warmups = 1 } = {}) {
  const missing = await pdCommandMissing('version');
  if (missing) return Object.keys(JOBS).map((name) => notRun(`start-up: ${name}`, TARGET.target, missing));
  const dir = await mkdtemp(join(tmpdir(), 'pd-bench-startup-'));
  try {
    const snapshot = await emptySnapshot(dir, ctx.log);
    const sides = {
      ...Object.fromEntries(Object.entries(JOBS).map(([name, args]) => [name, command(pdArgv(...args))])),
      ...nodeStart(),
      ...(snapshot ? { [SNAPSHOT]: command([process.execPath, '--snapshot-blob', snapshot]) } : {}),
    };
    ctx.log(`[startup] ${Object.keys(sides).join(', ')}, ${iterations} rounds`);
    return rows(await alternate(sides, { iterations, warmups, log: ctx.log }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function rows(r) {
  const node = r['node -e 0'];
  const snapshot = r[SNAPSHOT];
  return Object.keys(JOBS).map((name) =>
    pairResult({
      name: `start-up: ${name}`,
      pd: r[name],
      peer: { name: 'node -e 0', ...node },
      pdCommand: `pd ${JOBS[name].join(' ')}`,
      peerCommand: `${process.execPath} -e 0`,
      ...TARGET,
      floors: [
        { name: 'node -e 0 (the peer)', medianMs: Math.round(node.medianMs) },
        ...(snapshot ? [{ name: SNAPSHOT, medianMs: Math.round(snapshot.medianMs) }] : []),
      ],
      notes: [
        `pd is ${Math.round(r[name].medianMs - node.medianMs)} ms above Node's own start-up`,
        ...(snapshot
          ? [
              `a start-up snapshot of pd would start at least ${Math.round(snapshot.medianMs - node.medianMs)} ms above it (empty snapshot)`,
            ]
          : []),
      ],
    }),
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const log = (m) => process.stderr.write(`${m}\n`);
  console.log(JSON.stringify(await run({ ctx: { log }, iterations: Number(process.argv[2] ?? 5) }), null, 2));
}
