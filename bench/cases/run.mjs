#!/usr/bin/env node
// `pd run` against `docker run --rm --network none`, warm: a small image that is already
// cached (pulled once; its layers unpacked) running `true`. pd is measured as users run it — a
// fresh node process that imports the runner and runs the image by reference (resolved from
// the local record, no registry round trip) — and also in-process. Bare `runc run` of a
// prepared bundle is the floor. Then the first run of a few-hundred-MB image: layers unpacked
// into the layer store, in MB/s of layer tar, with GNU tar extracting the same layers for scale.
// Standalone: pnpm --filter @pd/runner... --filter @pd/test-fixtures build && node bench/cases/run.mjs [iterations]
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { alternate, median } from '../lib/measure.mjs';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const work = join(root, 'bench', '.work', 'run');
const MB = 1e6;

async function load(pkgDir, hint) {
  const dist = join(root, pkgDir, 'dist', 'index.js');
  if (!existsSync(dist)) throw new Error(`build first: ${hint}`);
  return import(pathToFileURL(dist).href);
}

export async function run({ iterations = 15, sizeMB = 300, layers = 4, log = () => {} } = {}) {
  const runner = await load('packages/runner', 'pnpm --filter @pd/runner... build');
  const image = await load('packages/image', 'pnpm --filter @pd/image... build');
  const fx = await load('test-fixtures', 'pnpm --filter @pd/test-fixtures build');
  const missing = fx.dockerMissing() ?? fx.registryMissing() ?? fx.runcMissing();
  if (missing) throw new Error(`run bench needs docker, the registry and runc as root: ${missing}`);
  const host = fx.dockerHost();

  await mkdir(work, { recursive: true });
  const cacheDir = await mkdtemp(join(work, 'cache-'));
  const registry = await fx.startRegistry();
  try {
    // --- warm start of a small image ------------------------------------------------------------
    const base = await fx.importBase();
    const pushed = await fx.pushImage(base.tag, registry, 'bench/busybox');
    const ref = pushed.ref;
    // Pull once and unpack: what "cached" means for both sides (docker has the image locally).
    const first = await runner.run(ref, { cacheDir, rm: true, args: ['true'], forwardSignals: false });
    if (first.exitCode !== 0) throw new Error(`pd run ${ref} true: exit ${first.exitCode}`);

    const script = join(work, 'pd-run.mjs');
    const distUrl = pathToFileURL(join(root, 'packages', 'runner', 'dist', 'index.js')).href;
    await writeFile(
      script,
      [
        `const { run } = await import(${JSON.stringify(distUrl)});`,
        'const runtime = process.env.RUNTIME || undefined;',
        "const r = await run(process.env.REF, { args: ['true'], rm: true, cacheDir: process.env.CACHE, runtime });",
        'process.exitCode = r.exitCode;',
      ].join('\n'),
    );
    const bundle = await runner.prepareBundle(ref, { cacheDir, args: ['true'], name: 'pd-bench-bare' });
    const runcRoot = join(work, 'runc-state');
    const sides = {
      'pd (process)': {
        prepare: () => ({
          argv: [process.execPath, script],
          env: { ...process.env, REF: ref, CACHE: cacheDir },
        }),
      },
      'pd crun (process)': {
        prepare: () => ({
          argv: [process.execPath, script],
          env: { ...process.env, REF: ref, CACHE: cacheDir, RUNTIME: 'crun' },
        }),
      },
      // Node's own start-up: the floor of any pd command.
      'node -e 0': { prepare: () => ({ argv: [process.execPath, '-e', '0'] }) },
      'docker run': {
        prepare: () => ({
          argv: ['docker', '-H', host, 'run', '--rm', '--network', 'none', base.tag, 'true'],
        }),
      },
      'runc (bare)': {
        prepare: () => ({
          argv: ['runc', '--root', runcRoot, 'run', '--bundle', bundle.dir, 'pd-bench-bare'],
        }),
      },
    };
    log(`[run] warm start of ${ref} (pulled and unpacked once before) running true, ${iterations} rounds`);
    const warm = await alternate(sides, { iterations, warmups: 2, log });
    await runner.removeContainer('pd-bench-bare', { cacheDir });

    const inProcess = [];
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      await runner.run(ref, { cacheDir, rm: true, args: ['true'], forwardSignals: false });
      inProcess.push(performance.now() - t0);
    }

    // --- first run of a large image: unpacking ---------------------------------------------------
    log(`[run] large image: ${sizeMB} MiB in ${layers} data layers (built once by the Docker engine)`);
    const large = await fx.largeImage(registry, { sizeMB, layers });
    const archive = join(work, 'large.tar');
    if (
      !existsSync(archive) ||
      (await readFile(`${archive}.id`, 'utf8').catch(() => '')) !== large.configDigest
    ) {
      await fx.docker(['save', '-o', archive, large.local], { timeout: 600_000 });
      await writeFile(`${archive}.id`, large.configDigest);
    }
    const largeImage = await image.readDockerArchive(archive);
    const largeLayers = await largeImage.layers();
    const unpack = [];
    const gnuTar = [];
    let tarBytes = 0;
    for (let i = 0; i < Math.max(1, Math.min(3, iterations)); i++) {
      const store = new runner.LayerStore({ cacheDir: await mkdtemp(join(work, 'cold-')) });
      let bytes = 0;
      const t0 = performance.now();
      const cached = await store.ensureAll(largeLayers);
      const ms = performance.now() - t0;
      for (const l of cached) bytes += l.meta.bytes;
      unpack.push(ms);
      await rm(join(store.root, '..'), { recursive: true, force: true });
      // GNU tar on the same layer files, one after the other, for scale.
      const dir = await mkdtemp(join(work, 'gnutar-'));
      const files = await layerFiles(archive, dir);
      const t1 = performance.now();
      for (const f of files.paths) await execFileP('tar', ['-xf', f, '-C', files.out]);
      const tarMs = performance.now() - t1;
      gnuTar.push(tarMs);
      tarBytes = files.bytes;
      await rm(dir, { recursive: true, force: true });
      log(
        `  cold unpack ${i + 1}: pd ${(ms / 1000).toFixed(2)}s (${bytes} content bytes), GNU tar ${(tarMs / 1000).toFixed(2)}s`,
      );
    }

    const pdMs = warm['pd (process)'].medianMs;
    const dockerMs = warm['docker run'].medianMs;
    return {
      iterations,
      image: ref,
      warm: {
        pdProcessMs: pdMs,
        pdInProcessMs: median(inProcess),
        dockerMs,
        runcBareMs: warm['runc (bare)'].medianMs,
        pdCrunMs: warm['pd crun (process)'].medianMs,
        nodeMs: warm['node -e 0'].medianMs,
        ratio: pdMs / dockerMs,
        ratioMet: pdMs / dockerMs <= 0.4,
        inProcessRatio: median(inProcess) / dockerMs,
        runs: {
          pd: warm['pd (process)'].runs.map((r) => Math.round(r.ms)),
          docker: warm['docker run'].runs.map((r) => Math.round(r.ms)),
          runc: warm['runc (bare)'].runs.map((r) => Math.round(r.ms)),
          pdCrun: warm['pd crun (process)'].runs.map((r) => Math.round(r.ms)),
          node: warm['node -e 0'].runs.map((r) => Math.round(r.ms)),
          pdInProcess: inProcess.map(Math.round),
        },
      },
      cold: {
        layers: largeLayers.length,
        tarBytes,
        pdSeconds: median(unpack) / 1000,
        pdMBps: tarBytes / MB / (median(unpack) / 1000),
        gnuTarSeconds: median(gnuTar) / 1000,
        gnuTarMBps: tarBytes / MB / (median(gnuTar) / 1000),
      },
    };
  } finally {
    await registry.stop();
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

export function report(r, log = console.log) {
  const s = (ms) => `${(ms / 1000).toFixed(3)}s`;
  log(`warm start: ${r.image} running true, median of ${r.iterations} alternating rounds`);
  log(`  pd run (fresh node process)  ${s(r.warm.pdProcessMs)}   runs ${r.warm.runs.pd.join(' ')}`);
  log(
    `  pd run (in process)          ${s(r.warm.pdInProcessMs)}   runs ${r.warm.runs.pdInProcess.join(' ')}`,
  );
  log(`  docker run --rm --network none ${s(r.warm.dockerMs)} runs ${r.warm.runs.docker.join(' ')}`);
  log(`  pd run --runtime crun (proc.) ${s(r.warm.pdCrunMs)}   runs ${r.warm.runs.pdCrun.join(' ')}`);
  log(`  runc run (bare bundle)       ${s(r.warm.runcBareMs)}   runs ${r.warm.runs.runc.join(' ')}`);
  log(`  node -e 0 (Node start-up)    ${s(r.warm.nodeMs)}   runs ${r.warm.runs.node.join(' ')}`);
  log(
    `  pd / docker: ${r.warm.ratio.toFixed(3)}x (target <= 0.4x: ${r.warm.ratioMet ? 'met' : 'MISSED'}); in process ${r.warm.inProcessRatio.toFixed(3)}x`,
  );
  log(
    `first run of a large image: ${r.cold.layers} layers, ${(r.cold.tarBytes / MB).toFixed(0)} MB of layer tar: pd unpack ${r.cold.pdSeconds.toFixed(2)}s = ${r.cold.pdMBps.toFixed(0)} MB/s; GNU tar -x ${r.cold.gnuTarSeconds.toFixed(2)}s = ${r.cold.gnuTarMBps.toFixed(0)} MB/s`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const iterations = Number(process.argv[2] ?? process.env.PD_BENCH_ITERATIONS ?? 15);
  report(await run({ iterations, log: console.log }));
}
