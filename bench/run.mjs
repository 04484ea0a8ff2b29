#!/usr/bin/env node
// `pnpm bench`: pd against its peers, case by case, each row with its floors (see bench/README.md).
//   --iterations N   measured runs per side (default 5; start-up, run and the copies within one
//                    registry at least 15, unpack at least 7), after --warmups N (default 1) excluded
//   --only a,b       case keys (NAMES below); --only may name the large cases without --large
//   --size-mb N      size of the fixture image's data (default 300)
//   --large          also the large-image cases (≥ 1 GB; minutes): large-pull, large-push
//   --large-size-mb N, --large-layers N   that image's data size and layer count (default 2048, 2)
//   --library        also run bench/cases/image.mjs (the append job through @pd/image in-process)
//   --no-profile     skip profiling the case furthest from its target
//   --no-save        print only; do not write bench/results/<date>.md nor README's Performance
//   --keep-page-reporting   measure with the VM's free page reporting as it is (lib/page-reporting.mjs)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine } from './lib/machine.mjs';
import { holdPageReporting } from './lib/page-reporting.mjs';
import { PD_MAIN, ROOT } from './lib/pd.mjs';
import { profileJob } from './lib/profile.mjs';
import { resultsMarkdown, table, updateReadme } from './lib/report.mjs';
import { notRun, targetDistance } from './lib/result.mjs';
import { createContext, WORK } from './lib/setup.mjs';

const NAMES = {
  'pull-oci': ['pull → OCI layout', '≤ 0.6×, RSS ≤ 200 MB'],
  'pull-docker-archive': ['pull → docker-archive', '≤ 0.4×, RSS ≤ 200 MB'],
  'large-pull': ['pull → OCI layout, large image', '≤ 0.5× (≥ 2× faster), ≤ 1.3× curl --parallel'],
  'large-push': ['push OCI layout → registry, large image', '≤ 0.7×'],
  copy: ['registry → registry copy, same registry', '≤ 2×'],
  'copy-registries': ['registry → registry copy, two registries', '≤ 0.7×'],
  'copy-again': ['registry → registry copy, again into a new repository', '≤ 2× (as within one registry)'],
  'far-pull': ['pull → OCI layout, registry 40 ms away', '≤ 0.6× (as on loopback)'],
  'far-copy': ['registry → registry copy, same registry 40 ms away', '≤ 2× (as on loopback)'],
  'tls-pull': ['pull → OCI layout over HTTPS', '≤ 0.6× (as over plain HTTP)'],
  'tls-copy': ['registry → registry copy, two HTTPS registries', '≤ 0.7× (as over plain HTTP)'],
  append: ['append one file + push to new repo', '≤ 0.25×, 0 base bytes'],
  layer: ['layer from a directory', '≤ 0.9× pigz'],
  run: ['run cached small image', '≤ 0.4×'],
  startup: ['start-up: pd --help, pd version', '≤ 1.3×'],
  unpack: ['unpack layers, first run', '≥ GNU tar MB/s (≤ 1×)'],
  conda: ['conda rebuild, one package changed', 'only one layer pushed'],
};
const LARGE = ['large-pull', 'large-push'];

const { values: flags } = parseArgs({
  options: {
    iterations: { type: 'string', default: '5' },
    warmups: { type: 'string', default: '1' },
    only: { type: 'string' },
    'size-mb': { type: 'string', default: '300' },
    large: { type: 'boolean', default: false },
    'large-size-mb': { type: 'string', default: '2048' },
    'large-layers': { type: 'string', default: '2' },
    library: { type: 'boolean', default: false },
    'no-profile': { type: 'boolean', default: false },
    'no-save': { type: 'boolean', default: false },
    'keep-page-reporting': { type: 'boolean', default: false },
  },
});
const iterations = Number(flags.iterations);
const warmups = Number(flags.warmups);
const sizeMB = Number(flags['size-mb']);
if (!(Number.isInteger(iterations) && iterations >= 1))
  throw new Error('--iterations must be a whole number ≥ 1');
if (!(Number.isInteger(warmups) && warmups >= 0)) throw new Error('--warmups must be a whole number ≥ 0');
if (!(sizeMB > 0)) throw new Error('--size-mb must be positive');
const large = { sizeMB: Number(flags['large-size-mb']), layers: Number(flags['large-layers']) };
if (!(large.sizeMB > 0 && Number.isInteger(large.layers) && large.layers >= 1))
  throw new Error('--large-size-mb must be positive and --large-layers a whole number ≥ 1');
const only = flags.only
  ? flags.only.split(',').map((s) => s.trim())
  : Object.keys(NAMES).filter((k) => flags.large || !LARGE.includes(k));
const unknown = only.filter((k) => !(k in NAMES));
if (unknown.length)
  throw new Error(`unknown case(s) ${unknown.join(', ')}; known: ${Object.keys(NAMES).join(', ')}`);

const log = (m) => process.stderr.write(`${m}\n`);
const started = Date.now();
const loadStart = loadavg();

// pd is measured as built; build once when the CLI or the fixtures are missing.
if (!existsSync(PD_MAIN) || !existsSync(join(ROOT, 'test-fixtures', 'dist', 'index.js'))) {
  log('[setup] pnpm build (the CLI or test-fixtures is not built)');
  execFileSync('pnpm', ['build'], { cwd: ROOT, stdio: 'inherit' });
}

const ctx = await createContext({ sizeMB, large, log });
const pageReporting = holdPageReporting({ keep: flags['keep-page-reporting'] });
log(`[setup] ${pageReporting.state}`);
const opts = { ctx, iterations, warmups };
// Cases whose sides take well under a second get more rounds, for seconds of extra time: medians
// of 3 runs of 110-190 ms on a VM that shares its host put pd version at 1.27x, 1.71x and 1.35x
// node -e 0 in three full runs (results run12-run14).
const QUICK_ROUNDS = 15;
const quick = { ...opts, iterations: Math.max(iterations, QUICK_ROUNDS) };
// The unpack rows' sides take 0.3-1.4 s, and their medians of 3 moved by 0.1 s from run to run
// (the many-files row: pd 0.80, 0.92 and 0.90 s in run15-run17, rounds of one run 0.82-0.98 s).
const UNPACK_ROUNDS = 7;
const rows = [];
const library = [];

/** Run one case module; a failure becomes a "not run" row naming it, the other cases go on. */
async function attempt(keys, fn) {
  const wanted = keys.filter((k) => only.includes(k));
  if (wanted.length === 0) return;
  try {
    const got = await fn(wanted);
    rows.push(...(Array.isArray(got) ? got : got.rows));
    if (!Array.isArray(got)) library.push(...got.library);
  } catch (e) {
    log(`[bench] ${wanted.join(', ')} failed: ${e.stack ?? e}`);
    for (const k of wanted)
      rows.push(notRun(NAMES[k][0], NAMES[k][1], `failed: ${String(e.message).split('\n')[0]}`));
  }
}

async function runCase() {
  return (await import(join(ROOT, 'bench', 'cases', 'run.mjs'))).run(quick);
}

/** bench/cases/image.mjs (owned by @pd/image) in its own shape, normalised for the library table. */
async function imageLibrary() {
  const r = await (await import(join(ROOT, 'bench', 'cases', 'image.mjs'))).run({ iterations, sizeMB, log });
  const side = (name, x) => ({
    name,
    medianMs: Math.round(x.seconds * 1000),
    peakRssMB: null,
    runsMs: x.runs.map((s) => Math.round(s * 1000)),
  });
  library.push({
    case: `${NAMES.append[0]} (@pd/image API)`,
    pd: side('pd (in-process)', r.results.pd),
    peer: side('containerify --doCrossMount', r.results.containerify),
    ratio: Number(r.targets.ratio.toFixed(3)),
    target: NAMES.append[1],
    maxRatio: 0.25,
    met: r.targets.ratioMet && r.targets.baseBytesMet,
    notes: [
      `pd base-layer bytes downloaded: ${r.targets.pdBaseBytes}`,
      'bench/cases/image.mjs: library call in the harness process',
    ],
  });
}

let profile;
let containerify;
try {
  await attempt(['startup'], async () => (await import('./cases/startup.mjs')).run(quick));
  await attempt(['pull-oci', 'pull-docker-archive'], async (keys) =>
    (await import('./cases/pull.mjs')).run({ ...opts, only: keys }),
  );
  await attempt(LARGE, async (keys) => (await import('./cases/large.mjs')).run({ ...opts, only: keys }));
  // Within one registry and again, each side takes 0.1-0.2 s: the quick rounds. Across two
  // registries a side moves every blob (~1 s), after a registry started for it.
  for (const key of ['copy', 'copy-registries', 'copy-again'])
    await attempt([key], async (keys) =>
      (await import('./cases/copy.mjs')).run({ ...(key === 'copy-registries' ? opts : quick), only: keys }),
    );
  await attempt(['far-pull', 'far-copy'], async (keys) =>
    (await import('./cases/far.mjs')).run({ ...opts, only: keys }),
  );
  await attempt(['tls-pull', 'tls-copy'], async (keys) =>
    (await import('./cases/tls.mjs')).run({ ...opts, only: keys }),
  );
  await attempt(['append'], async () => {
    const m = await import('./cases/append.mjs');
    const got = await m.run(opts);
    containerify = join(WORK, 'containerify', 'node_modules', 'containerify', 'lib', 'cli.js');
    return got;
  });
  await attempt(['layer'], async () => (await import('./cases/layer.mjs')).run(opts));
  await attempt(['run'], runCase);
  await attempt(['unpack'], async () =>
    (await import('./cases/unpack.mjs')).run({ ...opts, iterations: Math.max(iterations, UNPACK_ROUNDS) }),
  );
  await attempt(['conda'], async () => (await import('./cases/conda.mjs')).run(opts));
  if (flags.library && only.includes('append'))
    await imageLibrary().catch((e) => log(`[bench] image.mjs: ${e.stack}`));

  // Profile the pd side of the case furthest from what it can reach: its target, or the job's
  // floor where the target is under it (lib/result.mjs).
  const ranked = rows
    .filter((r) => !r.notRun && r.maxRatio && r.prepareProfile)
    .map((r) => ({ r, distance: targetDistance(r) }))
    .sort((a, b) => b.distance - a.distance);
  if (!flags['no-profile'] && ranked.length) {
    const { r, distance } = ranked[0];
    log(`[profile] ${r.case}: ${distance.toFixed(2)}× what it can reach; node --cpu-prof of one pd run`);
    try {
      const job = await r.prepareProfile('profile');
      profile = { case: r.case, distance, ...(await profileJob(job, join(WORK, 'profile'))) };
    } catch (e) {
      profile = { case: r.case, distance, error: e.message };
    }
  }
} finally {
  pageReporting.restore();
  await ctx.close();
}

const machine = await describeMachine({
  workDir: WORK,
  dockerHost: process.env.PD_TEST_DOCKER_HOST,
  containerify: containerify && existsSync(containerify) ? containerify : undefined,
});
machine.memory = pageReporting.state;
machine.loadAverageStart = loadStart.map((x) => x.toFixed(2)).join(' ');
machine.loadAverageEnd = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
const date = new Date().toISOString().slice(0, 10);
const durationS = Math.round((Date.now() - started) / 1000);
const markdown = resultsMarkdown({
  date,
  rows,
  library,
  machine,
  profile,
  durationS,
  options: { argv: process.argv.slice(2), iterations, warmups },
});
process.stdout.write(`\n${table(rows)}\n`);
if (library.length) process.stdout.write(`\nLibrary-level (in-process, informational):\n${table(library)}\n`);
if (profile && !profile.error) {
  process.stdout.write(`\nProfile of ${profile.case} (${profile.files.join(', ')}):\n`);
  for (const x of profile.self.slice(0, 10))
    process.stdout.write(`  ${String(x.pct).padStart(5)}%  ${x.name}\n`);
}
if (!flags['no-save']) {
  const resultsDir = join(ROOT, 'bench', 'results');
  await mkdir(resultsDir, { recursive: true });
  // A second run on one day keeps the first one's file: notes and READMEs link to them.
  const free = (n) => join(resultsDir, n === 1 ? `${date}.md` : `${date}-run${n}.md`);
  let n = 1;
  while (existsSync(free(n))) n++;
  const file = free(n);
  await writeFile(file, markdown);
  log(`[bench] wrote ${relative(ROOT, file)}`);
  // README shows the full table only: a partial run (--only) leaves it as it was.
  if (!flags.only) {
    await updateReadme(join(ROOT, 'README.md'), { date, rows, machine, resultsPath: relative(ROOT, file) });
    log('[bench] updated the Performance section of README.md');
  }
}
