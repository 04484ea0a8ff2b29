#!/usr/bin/env node
// `pd run` against `docker run --rm --network none`, warm: a small image that is already cached
// (pulled once, layers unpacked; docker has it locally) running `true`. pd is measured as users
// run it: the built CLI in a fresh node process, by reference (resolved from the local record, no
// registry round trip). For context, not for the target: pd with crun, bare `runc run` of a
// prepared bundle (the runtime's own floor), `node -e 0` (Node's start-up, the floor of any pd
// command), and the same run in-process. Then the first run of the large image: its layers
// unpacked into the layer store, in MB/s, with GNU tar extracting the same layer files for scale.
// Standalone: pnpm build && PD_TEST_DOCKER_HOST=... node bench/cases/run.mjs [iterations]
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { alternate, median, spawnCollect } from '../lib/measure.mjs';
import { pdArgv, pdCommandMissing, pdEnv, ROOT } from '../lib/pd.mjs';
import { notRun, pairResult } from '../lib/result.mjs';
import { createContext } from '../lib/setup.mjs';

const execFileP = promisify(execFile);
const MB = 1e6;
const CASE = { name: 'run cached small image', target: '≤ 0.4×', maxRatio: 0.4 };

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
  const image = await load('packages/image');
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
      'node -e 0': { prepare: () => ({ argv: [process.execPath, '-e', '0'] }) },
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

    // --- first run of the large image: unpacking -------------------------------------------------
    const large = await ctx.largeImage();
    const archive = join(work, 'large.tar');
    if (
      !existsSync(archive) ||
      (await readFile(`${archive}.id`, 'utf8').catch(() => '')) !== large.configDigest
    ) {
      await fx.docker(['save', '-o', archive, large.local], { timeout: 600_000 });
      await writeFile(`${archive}.id`, large.configDigest);
    }
    const largeLayers = await (await image.readDockerArchive(archive)).layers();
    const unpack = [];
    const gnuTar = [];
    let tarBytes = 0;
    for (let i = 0; i < Math.max(1, Math.min(3, iterations)); i++) {
      const store = new runner.LayerStore({ cacheDir: await mkdtemp(join(work, 'cold-')) });
      const t0 = performance.now();
      await store.ensureAll(largeLayers);
      unpack.push(performance.now() - t0);
      await rm(join(store.root, '..'), { recursive: true, force: true });
      // GNU tar on the same layer files, one after the other, for scale.
      const dir = await mkdtemp(join(work, 'gnutar-'));
      const files = await layerFiles(archive, dir);
      const t1 = performance.now();
      for (const f of files.paths) await execFileP('tar', ['-xf', f, '-C', files.out]);
      gnuTar.push(performance.now() - t1);
      tarBytes = files.bytes;
      await rm(dir, { recursive: true, force: true });
      log(
        `  cold unpack ${i + 1}: pd ${(unpack.at(-1) / 1000).toFixed(2)}s, GNU tar ${(gnuTar.at(-1) / 1000).toFixed(2)}s`,
      );
    }
    const rate = (ms) => `${(tarBytes / MB / (ms / 1000)).toFixed(0)} MB/s`;
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
        notes: [
          `floors: node -e 0 ${ms('node -e 0')}, runc run of a prepared bundle ${ms('runc (bare bundle)')}; pd --runtime crun ${ms('pd --runtime crun')}; pd in-process ${Math.round(median(inProcess))} ms`,
          `first run of the large image: ${largeLayers.length} layers, ${(tarBytes / MB).toFixed(0)} MB of layer tar unpacked by pd at ${rate(median(unpack))}, GNU tar -x ${rate(median(gnuTar))}`,
        ],
      }),
    ];
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

/** The layer tars of a docker-save archive, unpacked with GNU tar (outside the timing). */
async function layerFiles(archive, dir) {
  const src = join(dir, 'archive');
  const out = join(dir, 'out');
  await mkdir(src);
  await mkdir(out);
  await execFileP('tar', ['-xf', archive, '-C', src]);
  const manifest = JSON.parse(await readFile(join(src, 'manifest.json'), 'utf8'));
  const paths = manifest[0].Layers.map((l) => join(src, l));
  let bytes = 0;
  for (const p of paths) bytes += (await stat(p)).size;
  return { paths, out, bytes };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const ctx = await createContext();
  try {
    console.log(JSON.stringify(await run({ ctx, iterations: Number(process.argv[2] ?? 3) }), null, 2));
  } finally {
    await ctx.close();
  }
}
