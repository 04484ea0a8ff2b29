#!/usr/bin/env node
// Append benchmark: one small file onto a multi-layer base of a few hundred MB, pushed to a new
// repository of the same (loopback) registry. pd (@pd/image library API: lazy pull, layer built
// once, base layers mounted) against `containerify --doCrossMount` doing the same job. A counting
// proxy in front of the registry tells how many base-layer bytes each one downloaded.
// Targets: pd median <= 0.25x containerify's, and 0 base-layer bytes downloaded.
// Usage: pnpm --filter @pd/image... build && pnpm --filter @pd/test-fixtures build &&
//        PD_TEST_DOCKER_HOST=unix:///tmp/pdd/docker.sock node bench/cases/image.mjs [iterations]
// (the base image is built once by the Docker engine, see test-fixtures' largeImage).
// A harness can `import { run } from './cases/image.mjs'` and call run({ iterations }).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const work = join(root, 'bench', '.work', 'image');
const peerDir = join(root, 'bench', '.work', 'containerify');
const CONTAINERIFY_VERSION = '4.1.0';
const MB = 1 << 20;

async function load(pkgDir, hint) {
  const dist = join(root, pkgDir, 'dist', 'index.js');
  if (!existsSync(dist)) throw new Error(`build first: ${hint}`);
  return import(pathToFileURL(dist).href);
}

/** containerify, installed with npm into bench/.work (never into the workspace). */
async function containerifyCli() {
  const cli = join(peerDir, 'node_modules', 'containerify', 'lib', 'cli.js');
  if (!existsSync(cli)) {
    await mkdir(peerDir, { recursive: true });
    await execFileP(
      'npm',
      ['install', '--prefix', peerDir, '--no-audit', '--no-fund', `containerify@${CONTAINERIFY_VERSION}`],
      { timeout: 300_000 },
    );
  }
  return cli;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export async function run({ iterations = 5, sizeMB = 300, layers = 4, log = () => {} } = {}) {
  const pd = await load('packages/image', 'pnpm --filter @pd/image... build');
  const fx = await load('test-fixtures', 'pnpm --filter @pd/test-fixtures build');
  const missing = fx.registryMissing() ?? fx.dockerMissing();
  if (missing) throw new Error(`image bench needs the registry and a Docker engine: ${missing}`);
  const cli = await containerifyCli();

  await mkdir(work, { recursive: true });
  const app = await mkdtemp(join(work, 'app-'));
  await writeFile(join(app, 'hello.txt'), 'hello from the image benchmark\n');
  const registry = await fx.startRegistry();
  const proxy = await fx.startFaultProxy(registry.url);
  try {
    log(`[image] base: ${sizeMB} MiB in ${layers} data layers (built once by the Docker engine)`);
    const large = await fx.largeImage(registry, { sizeMB, layers });
    const baseDigests = large.layers.map((l) => l.digest);
    const baseBytes = large.layers.reduce((n, l) => n + l.size, 0);
    const base = `${large.repository}:${large.tag}`;
    /** Bytes of base-layer blobs sent by the registry since the last reset (downloads). */
    const downloaded = () =>
      proxy
        .requests({ method: 'GET' })
        .filter((r) => baseDigests.some((d) => r.path.endsWith(d)))
        .reduce((n, r) => n + r.responseBytes, 0);

    const pdAppend = async (i) => {
      // A cold cache each time: nothing of the base is on disk beforehand.
      process.env.PD_CACHE_DIR = await mkdtemp(join(work, 'cache-'));
      const image = await pd.Image.pull(`${proxy.host}/${base}`);
      await image.addLayerPath(join(app, 'hello.txt'), { dest: '/app/hello.txt' });
      await image.push(`${proxy.host}/bench/pd-${i}:latest`);
      await rm(process.env.PD_CACHE_DIR, { recursive: true, force: true });
    };
    // The same through a fresh node process, as containerify runs: start-up and imports included.
    // (A file, not `node --input-type=module -e`: @pd/tar's eval'd workers inherit that flag.)
    const distUrl = pathToFileURL(join(root, 'packages', 'image', 'dist', 'index.js')).href;
    const script = [
      `const { Image, closeDefaultClient } = await import(${JSON.stringify(distUrl)});`,
      'const image = await Image.pull(process.env.BASE);',
      "await image.addLayerPath(process.env.FILE, { dest: '/app/hello.txt' });",
      'await image.push(process.env.TARGET);',
      'await closeDefaultClient();',
    ].join('\n');
    const scriptFile = join(app, 'append.mjs');
    await writeFile(scriptFile, script);
    const pdProcess = async (i) => {
      const cache = await mkdtemp(join(work, 'cache-'));
      await execFileP(process.execPath, [scriptFile], {
        env: {
          ...process.env,
          PD_CACHE_DIR: cache,
          BASE: `${proxy.host}/${base}`,
          FILE: join(app, 'hello.txt'),
          TARGET: `${proxy.host}/bench/pdp-${i}:latest`,
        },
        timeout: 600_000,
      });
      await rm(cache, { recursive: true, force: true });
    };
    const containerify = async (i) => {
      await execFileP(
        process.execPath,
        [
          cli,
          '--registry',
          `http://${proxy.host}/v2/`,
          '--fromImage',
          base,
          '--toImage',
          `bench/cfy-${i}:latest`,
          '--folder',
          app,
          '--customContent',
          'hello.txt:/app/hello.txt',
          '--doCrossMount',
          '--allowInsecureRegistries',
          '--allowNoPushAuth',
        ],
        { timeout: 600_000, maxBuffer: 16 * MB },
      );
    };

    const cases = { pd: pdAppend, 'pd (process)': pdProcess, containerify };
    const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
    const bytes = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
    for (let i = 0; i < iterations; i++) {
      const order = Object.keys(cases);
      if (i % 2 === 1) order.reverse(); // alternate: neither always runs first
      for (const name of order) {
        proxy.resetStats();
        const t0 = performance.now();
        await cases[name](i);
        times[name].push((performance.now() - t0) / 1000);
        bytes[name].push(downloaded());
      }
      log(`[image] run ${i + 1}: ${order.map((k) => `${k} ${times[k].at(-1).toFixed(2)} s`).join(', ')}`);
    }
    // Both results must hold the base layers plus one more, and pd's must say hello.
    for (const repo of ['bench/pd-0', 'bench/pdp-0', 'bench/cfy-0']) {
      const got = await fx.readPushedImage(registry, repo, 'latest');
      if (
        got.layers.length !== large.layers.length + 1 ||
        got.layers.some((l, k) => k < baseDigests.length && l.digest !== baseDigests[k])
      ) {
        throw new Error(`${repo}: the pushed image is not the base plus one layer`);
      }
    }
    await pd.closeDefaultClient();

    const results = {};
    for (const name of Object.keys(cases)) {
      results[name] = {
        seconds: median(times[name]),
        runs: times[name],
        baseBytesDownloaded: median(bytes[name]),
      };
    }
    const ratio = results.pd.seconds / results.containerify.seconds;
    const processRatio = results['pd (process)'].seconds / results.containerify.seconds;
    return {
      iterations,
      base: { ref: base, layers: large.layers.length, bytes: baseBytes },
      results,
      targets: {
        ratio,
        ratioMet: ratio <= 0.25,
        processRatio,
        pdBaseBytes: results.pd.baseBytesDownloaded,
        baseBytesMet: results.pd.baseBytesDownloaded === 0,
      },
      peer: `containerify ${CONTAINERIFY_VERSION} (--doCrossMount)`,
    };
  } finally {
    await proxy.stop();
    await registry.stop();
    await rm(app, { recursive: true, force: true });
  }
}

export function report(r, log = console.log) {
  log(
    `base: ${r.base.ref}, ${r.base.layers} layers, ${(r.base.bytes / MB).toFixed(1)} MiB compressed; append one file, push to a new repo; median of ${r.iterations}`,
  );
  log('case            seconds   base bytes downloaded   runs');
  for (const [name, x] of Object.entries(r.results)) {
    log(
      `${name.padEnd(14)} ${x.seconds.toFixed(3).padStart(8)} ${String(x.baseBytesDownloaded).padStart(22)}   ${x.runs.map((s) => s.toFixed(2)).join(' ')}`,
    );
  }
  log(
    `pd / ${r.peer}: ${r.targets.ratio.toFixed(3)}x (target <= 0.25x: ${r.targets.ratioMet ? 'met' : 'MISSED'}); pd base-layer bytes: ${r.targets.pdBaseBytes} (target 0: ${r.targets.baseBytesMet ? 'met' : 'MISSED'})`,
  );
  log(`pd in a fresh process / containerify: ${r.targets.processRatio.toFixed(3)}x`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const iterations = Number(process.argv[2] ?? process.env.PD_BENCH_ITERATIONS ?? 5);
  report(await run({ iterations, log: console.log }));
}
