#!/usr/bin/env node
// `pd run` against `docker run --rm --network none`, warm: a small image that is already cached
// (pulled once, layers unpacked; docker has it locally) running `true`. pd is measured as users
// run it: the built CLI in a fresh node process, by reference (resolved from the local record, no
// registry round trip). For context, not for the target: pd with crun, bare `runc run` of a
// prepared bundle (the runtime's own floor), `node -e 0` (Node's start-up, the floor of any pd
// command), and the same run in-process. The row's floors are a ladder, each rung one more part
// of the job: Node starting; `pd help run` (Node, the CLI and the run command's modules, @pd/runner
// among them, loaded; no work); bare runc; a Node script spawning runc on the prepared bundle
// (Node, node:child_process, the fork, the runtime: what pd adds beyond it is its own work).
// The first run's unpacking is the unpack case (cases/unpack.mjs).
// Standalone: pnpm build && PD_TEST_DOCKER_HOST=... node bench/cases/run.mjs [iterations]
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { floorsOf, nodeStart, startedFloor } from '../lib/floors.mjs';
import { alternate, median, spawnCollect } from '../lib/measure.mjs';
import { pdArgv, pdCommandMissing, pdEnv, ROOT } from '../lib/pd.mjs';
import { notRun, pairResult } from '../lib/result.mjs';
import { runStandalone } from '../lib/setup.mjs';

const CASE = { name: 'run cached small image', target: '≤ 0.4×', maxRatio: 0.4 };
// The least a Node program does to run a container: spawn the runtime on a prepared bundle, its
// stdio inherited, and exit with its code (the argv after the script is the runtime's).
const SPAWN_RUNC = `const [file, ...args] = process.argv.slice(1);
require('node:child_process').spawn(file, args, { stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 1));`;

async function load(pkgDir) {
  const dist = join(ROOT, pkgDir, 'dist', 'index.js');
  if (!existsSync(dist)) throw new Error(`build first: pnpm build (${pkgDir} has no dist)`);
  return import(pathToFileURL(dist).href);
}

export async function run({ ctx, iterations = 5, warmups = 2 } = {}) {
  const { log, fx } = ctx;
  const missing = (await pdCommandMissing('run')) ?? fx.runcMissing();
  if (missing) return [notRun(CASE.name, CASE.target, missing)];
  const runner = await load('packages/runner');
  const host = await ctx.docker();
  const registry = await ctx.registry();
  const work = join(ctx.work, 'run');
  await mkdir(work, { recursive: true });
  const cacheDir = await mkdtemp(join(work, 'cache-'));
  try {
    // --- warm start of a small image ------------------------------------------------------------
    const base = await fx.importBase();
    const pushed = await fx.pushImage(base.tag, registry, 'bench/busybox');
    const ref = pushed.ref;
    const env = pdEnv(cacheDir);
    // Pull once and unpack, with the CLI itself: what "cached" means for both sides.
    const [cmd, ...args] = pdArgv('run', '--rm', ref, 'true');
    const first = await spawnCollect(cmd, args, { env, timeoutMs: 300_000 });
    if (first.code !== 0) throw new Error(`pd run ${ref} true: exit ${first.code}: ${first.stderr}`);
    const bundle = await runner.prepareBundle(ref, { cacheDir, args: ['true'], name: 'pd-bench-bare' });
    const runcRoot = join(work, 'runc-state');
    const sides = {
      pd: { prepare: () => ({ argv: pdArgv('run', '--rm', ref, 'true'), env }) },
      'pd --runtime crun': {
        prepare: () => ({ argv: pdArgv('run', '--rm', '--runtime', 'crun', ref, 'true'), env }),
      },
      ...nodeStart(),
      'pd help run': { prepare: () => ({ argv: pdArgv('help', 'run'), env }) },
      'node: spawn runc': {
        prepare: () => ({
          argv: [
            process.execPath,
            '-e',
            SPAWN_RUNC,
            'runc',
            '--root',
            runcRoot,
            'run',
            '--bundle',
            bundle.dir,
            'pd-bench-node',
          ],
        }),
      },
      'docker run': {
        prepare: () => ({
          argv: ['docker', '-H', host, 'run', '--rm', '--network', 'none', base.tag, 'true'],
        }),
      },
      'runc (bare bundle)': {
        prepare: () => ({
          argv: ['runc', '--root', runcRoot, 'run', '--bundle', bundle.dir, 'pd-bench-bare'],
        }),
      },
    };
    log(`[run] warm start of ${ref} (pulled and unpacked once before) running true, ${iterations} rounds`);
    const warm = await alternate(sides, { iterations, warmups, log });
    await runner.removeContainer('pd-bench-bare', { cacheDir });

    const inProcess = [];
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      await runner.run(ref, { cacheDir, rm: true, args: ['true'], forwardSignals: false });
      inProcess.push(performance.now() - t0);
    }

    const ms = (name) => `${Math.round(warm[name].medianMs)} ms`;
    return [
      pairResult({
        name: CASE.name,
        pd: warm.pd,
        peer: { name: 'docker run --rm --network none', ...warm['docker run'] },
        pdCommand: 'pd run --rm REF true',
        peerCommand: 'docker run --rm --network none IMAGE true',
        target: CASE.target,
        maxRatio: CASE.maxRatio,
        jobFloor: 'node: spawn runc',
        floors: [
          ...floorsOf(warm, ['node -e 0', 'pd help run', 'runc (bare bundle)', 'node: spawn runc']),
          startedFloor(warm, 'runc (bare bundle)', 'runc'),
        ],
        notes: [
          `pd --runtime crun ${ms('pd --runtime crun')}; pd in-process ${Math.round(median(inProcess))} ms`,
          'unpacking on a first run: the unpack case (cases/unpack.mjs)',
        ],
      }),
    ];
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

await runStandalone(import.meta.url, run, 3);
