#!/usr/bin/env node
// Conda image benchmark: an environment of 32 small packages (bench-00..bench-31 + bench-all) built
// cold (empty caches) and warm after one package changed (bench-07 1.0 -> 1.1). Counts the layers
// compressed and the blobs uploaded to the real registry on each push.
// Cache state: every iteration starts from empty caches (cold), then rebuilds with them (warm).
// The row is `pd conda build ... --push` as users run it (a child process, through a counting
// proxy in front of the registry that tells which blobs were uploaded); the same job through
// @pd/conda and @pd/image in-process is reported in the library table (build time without the push).
// Standalone: pnpm build && node bench/cases/conda.mjs [iterations]
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { measure, summarize } from '../lib/measure.mjs';
import { pdArgv, pdCommandMissing, pdEnv } from '../lib/pd.mjs';
import { notRun, pairResult } from '../lib/result.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const work = join(root, 'bench', '.work', 'conda');
const PACKAGES = 32;
const BUMPED = 'bench-07';

const load = (pkg) => import(pathToFileURL(join(root, pkg, 'dist', 'index.js')).href);

const CASE = { name: 'conda rebuild, one package changed', target: 'only one layer pushed' };

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timed(fn) {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/** Rows for the harness: the CLI row, and the library-level one. */
export async function run({ ctx, iterations = 3 } = {}) {
  const missing = await pdCommandMissing('conda build');
  const cli = missing ? notRun(CASE.name, CASE.target, missing) : await measureCli({ ctx, iterations });
  const r = await measureLibrary({ iterations, log: ctx.log });
  if (r.skipped) return { rows: [cli], library: [] };
  const pushedLayers = r.warmLayerUploads;
  const library = {
    case: CASE.name,
    pd: { name: 'warm rebuild', medianMs: r.warmMs, peakRssMB: null, runsMs: r.warmRuns },
    peer: { name: 'cold build', medianMs: r.coldMs, peakRssMB: null, runsMs: r.coldRuns },
    ratio: Number((r.warmMs / r.coldMs).toFixed(3)),
    target: CASE.target,
    maxRatio: null,
    met: pushedLayers === 1,
    notes: [
      `${pushedLayers === 1 ? 'ok' : 'MISSED'}: ${pushedLayers} layer blob(s) uploaded by the warm push (+ config); cold: ${r.coldLayerUploads}`,
      `${r.packages} packages, ${r.layers} layers (one per package + a meta layer for conda-meta/history); warm compressed ${r.warmCompressed}, changed digests ${r.changedLayers}`,
      'in-process (@pd/conda + @pd/image), so no per-side RSS; times are of the build (solve, fetch, link, compress); the push to the loopback registry is counted, not timed',
    ],
  };
  return { rows: [cli], library: [library] };
}

/** `pd conda build --push`, cold then warm with one package changed, as child processes. */
async function measureCli({ ctx, iterations }) {
  const { fx, log } = ctx;
  const missing = fx.condaToolsMissing() ?? fx.registryMissing();
  if (missing) return notRun(CASE.name, CASE.target, missing);
  const dir = join(work, 'cli');
  await rm(dir, { recursive: true, force: true });
  const channelDir = join(dir, 'channel');
  const channel = await fx.buildCondaChannel(channelDir, fx.condaBenchPackages(PACKAGES));
  const served = await fx.serveCondaChannel(channelDir, 'bench-cli');
  const registry = await ctx.registry();
  const proxy = await ctx.proxy();
  const cold = [];
  const warm = [];
  const uploads = [];
  try {
    for (let i = 0; i < iterations; i++) {
      await fx.writeRepodata(channelDir, channel.packages);
      const env = pdEnv(join(dir, `cache-${i}`));
      const repo = `bench/conda-cli-${process.pid}-${i}`;
      const build = (tag) =>
        measure(
          pdArgv(
            'conda',
            'build',
            '-b',
            'scratch',
            '-i',
            `${proxy.host}/${repo}:${tag}`,
            '--push',
            '-c',
            served.url,
            'bench-all',
          ),
          { env },
        );
      cold.push(await build('cold'));
      const bumped = fx
        .condaBenchPackages(PACKAGES, { bumped: [BUMPED] })
        .find((p) => p.name === BUMPED && p.version === '1.1');
      const extra = await fx.buildCondaPackage(channelDir, bumped);
      await fx.writeRepodata(channelDir, [...channel.packages, extra]);
      proxy.resetStats();
      warm.push(await build('warm'));
      // Blobs whose upload completed (the PUT that closes an upload names the digest).
      const put = new Set(
        proxy
          .requests({ method: 'PUT' })
          .map((r) => /[?&]digest=([^&]+)/.exec(r.url)?.[1])
          .filter(Boolean)
          .map(decodeURIComponent),
      );
      const pushed = await fx.readPushedImage(registry, repo, 'warm');
      uploads.push({
        layers: pushed.layers.filter((l) => put.has(l.digest)).length,
        blobs: put.size,
        total: pushed.layers.length,
      });
      log(
        `  run ${i + 1}/${iterations}: cold ${(cold.at(-1).ms / 1000).toFixed(2)}s, warm ${(warm.at(-1).ms / 1000).toFixed(2)}s, warm uploaded ${uploads.at(-1).layers} layer(s) of ${uploads.at(-1).total}`,
      );
      await rm(join(channelDir, 'linux-64', extra.filename), { force: true });
      await rm(join(channelDir, 'noarch', extra.filename), { force: true });
    }
  } finally {
    await served.stop();
  }
  const most = Math.max(...uploads.map((u) => u.layers));
  return pairResult({
    name: CASE.name,
    pd: summarize(warm),
    peer: { name: 'cold build', ...summarize(cold) },
    pdCommand:
      'pd conda build -b scratch -i REF --push -c CHANNEL bench-all (warm caches, one package changed)',
    peerCommand: 'the same, cold (empty caches)',
    target: CASE.target,
    checks: [
      {
        ok: most === 1,
        note: `the warm push uploaded ${most} layer blob(s) of ${uploads[0].total} (most of any run)`,
      },
    ],
    notes: [
      `${PACKAGES + 1} packages in ${uploads[0].total} layers: one per package plus one for conda-meta/history, which names the requested specs and so changes only with them`,
      `blobs uploaded by the warm push, config included: ${uploads.map((u) => u.blobs).join(', ')}`,
    ],
  });
}

export async function measureLibrary({ iterations = 3, log = console.log } = {}) {
  const fx = await load('test-fixtures');
  const conda = await load('packages/conda');
  const image = await load('packages/image');
  const missing = fx.condaToolsMissing();
  if (missing) {
    log(`[conda] ${missing}`);
    return { skipped: missing };
  }
  await rm(work, { recursive: true, force: true });
  const channelDir = join(work, 'channel');
  const specs = fx.condaBenchPackages(PACKAGES);
  const channel = await fx.buildCondaChannel(channelDir, specs);
  const served = await fx.serveCondaChannel(channelDir, 'bench');
  const registry = fx.registryMissing() ? undefined : await fx.startRegistry();
  const rows = [];
  try {
    for (let i = 0; i < iterations; i++) {
      // Each iteration starts from v1 of the channel and empty caches.
      await fx.writeRepodata(channelDir, channel.packages);
      const cache = join(work, `cache-${i}`);
      process.env.PD_CACHE_DIR = cache;
      const blobCache = new image.BlobCache(cache);
      const opts = { cacheDir: join(cache, 'conda'), blobCache };
      const input = { specs: ['bench-all'], channels: [served.url] };
      /** Blobs uploaded by the push, and how many of them are layers. */
      const pushCount = async (img, tag) => {
        if (!registry) return {};
        const uploaded = new Set();
        await image.push(img, `${registry.host}/bench/conda:${tag}`, {
          onProgress: (e) => e.phase === 'upload' && uploaded.add(e.id),
        });
        const layers = await Promise.all((await img.layers()).map((l) => l.digest()));
        return { blobs: uploaded.size, layers: layers.filter((d) => uploaded.has(d)).length };
      };
      const cold = await timed(() =>
        conda.buildCondaImage(image.scratch({ platform: 'linux/amd64' }), input, opts),
      );
      const coldUploads = await pushCount(cold.value, `cold-${i}`);

      // One package changes: publish bench-07 1.1 beside 1.0 (only that file is new).
      const bumped = fx
        .condaBenchPackages(PACKAGES, { bumped: [BUMPED] })
        .find((s) => s.name === BUMPED && s.version === '1.1');
      const extra = await fx.buildCondaPackage(channelDir, bumped);
      await fx.writeRepodata(channelDir, [...channel.packages, extra]);
      const warm = await timed(() =>
        conda.buildCondaImage(image.scratch({ platform: 'linux/amd64' }), input, opts),
      );
      const warmUploads = await pushCount(warm.value, `warm-${i}`);
      const before = await Promise.all((await cold.value.layers()).map((l) => l.digest()));
      const after = await Promise.all((await warm.value.layers()).map((l) => l.digest()));
      rows.push({
        coldMs: cold.ms,
        warmMs: warm.ms,
        layers: after.length,
        coldCompressed: cold.value.conda.stats.built,
        warmCompressed: warm.value.conda.stats.built,
        changedLayers: after.filter((d) => !before.includes(d)).length,
        coldUploads: coldUploads.blobs,
        warmUploads: warmUploads.blobs,
        coldLayerUploads: coldUploads.layers,
        warmLayerUploads: warmUploads.layers,
      });
      await rm(join(channelDir, 'linux-64', extra.filename), { force: true });
      await rm(join(channelDir, 'noarch', extra.filename), { force: true });
    }
  } finally {
    await served.stop();
    await registry?.stop();
  }
  const result = {
    packages: PACKAGES + 1,
    iterations,
    coldMs: Math.round(median(rows.map((r) => r.coldMs))),
    warmMs: Math.round(median(rows.map((r) => r.warmMs))),
    layers: rows[0].layers,
    coldCompressed: rows[0].coldCompressed,
    warmCompressed: rows[0].warmCompressed,
    changedLayers: rows[0].changedLayers,
    coldUploads: rows[0].coldUploads,
    warmUploads: rows[0].warmUploads,
    coldLayerUploads: rows[0].coldLayerUploads,
    warmLayerUploads: Math.max(...rows.map((r) => r.warmLayerUploads ?? 0)),
    coldRuns: rows.map((r) => Math.round(r.coldMs)),
    warmRuns: rows.map((r) => Math.round(r.warmMs)),
  };
  log(
    `[conda] ${result.packages} packages, ${result.layers} layers: cold ${result.coldMs} ms ` +
      `(${result.coldCompressed} layers compressed, ${result.coldUploads ?? 'n/a'} blobs uploaded), ` +
      `warm with ${BUMPED} changed ${result.warmMs} ms (${result.warmCompressed} compressed, ` +
      `${result.changedLayers} layer digests changed, ${result.warmUploads ?? 'n/a'} blobs uploaded incl. config)`,
  );
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await mkdir(work, { recursive: true });
  const iterations = Number(process.argv[2] ?? 3);
  console.log(JSON.stringify(await measureLibrary({ iterations }), null, 2));
}
