#!/usr/bin/env node
// Layer creation benchmark: pd (gzip, zstd) against `tar | gzip -6` and `tar | pigz -6`.
// Usage: pnpm --filter @pd/tar build && node bench/cases/layer.mjs [iterations]
// A harness can `import { run } from './cases/layer.mjs'` and call run({ iterations }).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, link, mkdir, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const work = join(root, 'bench', '.work', 'layer');
const dataDir = join(work, 'tree');
const DATA_VERSION = '1';

const MB = 1 << 20;

/** Deterministic pseudo-random bytes (sha256 in counter mode), so every run builds the same tree. */
function prng(seed, size) {
  const out = Buffer.allocUnsafe(size);
  let counter = 0;
  for (let pos = 0; pos < size; pos += 32) {
    const h = createHash('sha256').update(`${seed}:${counter++}`).digest();
    h.copy(out, pos, 0, Math.min(32, size - pos));
  }
  return out;
}

const WORDS =
  'const let function return import export from await async if else for while class extends new this null undefined true false switch case break continue try catch finally throw typeof instanceof interface type string number boolean buffer stream layer digest manifest config registry image tar gzip zstd'.split(
    ' ',
  );

/** Source-like text: keywords, identifiers and indentation, compressing roughly like real code. */
function sourceText(seed, size) {
  const rnd = prng(seed, Math.ceil(size / 4) + 64);
  let i = 0;
  const next = () => rnd[i++ % rnd.length];
  const lines = [];
  let len = 0;
  while (len < size) {
    const indent = '  '.repeat(next() % 5);
    const n = 3 + (next() % 8);
    const words = [];
    for (let k = 0; k < n; k++) {
      const r = next();
      words.push(r < 200 ? WORDS[r % WORDS.length] : `id${next()}${next() % 16}`);
    }
    const line = `${indent}${words.join(' ')}${next() % 3 === 0 ? ';' : ' {'}\n`;
    lines.push(line);
    len += line.length;
  }
  return Buffer.from(lines.join('').slice(0, size));
}

async function walkFiles(dir, filter, limitBytes) {
  const found = [];
  let total = 0;
  const visit = async (d) => {
    let names;
    try {
      names = (await readdir(d)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (total >= limitBytes) return;
      const p = join(d, name);
      let st;
      try {
        st = await stat(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) await visit(p);
      else if (st.isFile() && filter(p) && st.size > 0) {
        found.push(p);
        total += st.size;
      }
    }
  };
  await visit(dir);
  return found;
}

/** Build the input tree once (about 300 MB) and cache it under bench/.work/. */
export async function prepareTree(log = console.log) {
  const stamp = join(work, `tree.v${DATA_VERSION}.done`);
  if (existsSync(stamp)) return dataDir;
  await rm(work, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  log(`[layer] building input tree in ${relative(root, dataDir)} (once)`);
  // Shared libraries: real binaries, moderately compressible.
  const libs = await walkFiles('/usr/lib/x86_64-linux-gnu', (p) => /\.so(\.|$)/.test(p), 110 * MB);
  for (const [i, p] of libs.entries()) {
    const d = join(dataDir, 'usr/lib', String(i % 16));
    await mkdir(d, { recursive: true });
    await copyFile(p, join(d, `${i}-${p.split('/').pop()}`));
  }
  // Generated source code: many files from 200 B to 200 KB, ~110 MB.
  let total = 0;
  for (let i = 0; total < 110 * MB; i++) {
    const size = 200 + ((i * 7919) % 200_000);
    const d = join(dataDir, 'src', `pkg${i % 40}`, `mod${i % 7}`);
    await mkdir(d, { recursive: true });
    await writeFile(join(d, `file${i}.ts`), sourceText(`src${i}`, size));
    total += size;
  }
  // Incompressible data: media, archives, model weights.
  await mkdir(join(dataDir, 'data'), { recursive: true });
  for (let i = 0; i < 4; i++)
    await writeFile(join(dataDir, 'data', `blob${i}.bin`), prng(`blob${i}`, 10 * MB));
  // Many tiny files (config, metadata, locale files).
  for (let i = 0; i < 20_000; i++) {
    const d = join(dataDir, 'etc', `d${i % 100}`);
    if (i < 100) await mkdir(d, { recursive: true });
    await writeFile(join(d, `f${i}.conf`), `key${i} = value ${i}\nanother = ${i * 31}\n`);
  }
  // Symlinks and hardlinks.
  await mkdir(join(dataDir, 'links'), { recursive: true });
  for (let i = 0; i < 500; i++)
    await symlink(`../etc/d${i % 100}/f${i}.conf`, join(dataDir, 'links', `l${i}`));
  for (let i = 0; i < 50; i++)
    await link(join(dataDir, 'etc', `d${i % 100}`, `f${i}.conf`), join(dataDir, 'links', `h${i}`));
  await writeFile(stamp, new Date().toISOString());
  return dataDir;
}

function sh(cmd) {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd}: exit ${code}`))));
  });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function has(tool) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Run every case alternately `iterations` times; returns medians per case and the target
 * verdicts. Never throws on a missed target (a benchmark reports, it does not fail).
 */
export async function run({ iterations = 5, log = console.log } = {}) {
  const distIndex = join(root, 'packages', 'tar', 'dist', 'index.js');
  if (!existsSync(distIndex)) throw new Error('build @pd/tar first: pnpm --filter @pd/tar build');
  const tar = await import(pathToFileURL(distIndex).href);
  const dir = await prepareTree(log);
  const out = join(work, 'out');
  await mkdir(out, { recursive: true });
  const inputBytes = Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);

  const pdCase = (compression) => async () => {
    const file = join(out, `pd.${compression}`);
    const { stream, result } = tar.compressLayer(tar.tarDirectory(dir), { compression });
    await pipeline(stream, createWriteStream(file));
    return (await result).size;
  };
  const shellCase = (name, compressor) => async () => {
    const file = join(out, name);
    await sh(`tar -c -C '${dir}' . | ${compressor} > '${file}'`);
    return (await stat(file)).size;
  };
  const cases = {
    'pd gzip': pdCase('gzip'),
    'pd zstd': pdCase('zstd'),
    'tar|gzip -6': shellCase('gnu.tar.gz', 'gzip -6'),
  };
  if (has('pigz')) {
    cases['tar|pigz -6'] = shellCase('pigz.tar.gz', 'pigz -6');
    // pigz picks its thread count itself; on some sandboxes it settles on one thread, so also
    // show it with every core forced, as the stricter peer.
    cases[`tar|pigz -6 -p${availableParallelism()}`] = shellCase(
      'pigz-p.tar.gz',
      `pigz -6 -p ${availableParallelism()}`,
    );
  } else log('[layer] pigz not installed: its case is skipped');

  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const sizes = {};
  for (let i = 0; i < iterations; i++) {
    // Rotate the order so no case always runs with a warm or cold page cache.
    const names = Object.keys(cases);
    const order = names.map((_, k) => names[(k + i) % names.length]);
    for (const name of order) {
      const t0 = performance.now();
      sizes[name] = await cases[name]();
      times[name].push((performance.now() - t0) / 1000);
    }
  }
  const results = {};
  for (const name of Object.keys(cases)) {
    const seconds = median(times[name]);
    results[name] = { seconds, mbPerSecond: inputBytes / MB / seconds, outputBytes: sizes[name] };
  }
  const pd = results['pd gzip'].seconds;
  const vsGzip = results['tar|gzip -6'].seconds / pd;
  const vsPigz = results['tar|pigz -6'] ? pd / results['tar|pigz -6'].seconds : undefined;
  const pigzAll = results[`tar|pigz -6 -p${availableParallelism()}`];
  const targets = {
    speedupVsGzip: vsGzip,
    timeVsPigz: vsPigz,
    timeVsPigzAllCores: pigzAll ? pd / pigzAll.seconds : undefined,
    gzipTargetMet: vsGzip >= 1.8,
    pigzTargetMet: vsPigz === undefined ? undefined : vsPigz <= 1.1,
  };
  return { iterations, inputBytes, cores: availableParallelism(), results, targets };
}

function report(r, log = console.log) {
  log(`input ${(r.inputBytes / MB).toFixed(0)} MiB, ${r.cores} cores, median of ${r.iterations}`);
  log('case              seconds    MiB/s    output MiB');
  for (const [name, x] of Object.entries(r.results)) {
    log(
      `${name.padEnd(17)} ${x.seconds.toFixed(2).padStart(7)} ${x.mbPerSecond.toFixed(1).padStart(8)} ${(x.outputBytes / MB).toFixed(1).padStart(13)}`,
    );
  }
  const t = r.targets;
  log(
    `pd gzip vs tar|gzip -6: ${t.speedupVsGzip.toFixed(2)}x faster (target >= 1.8x: ${t.gzipTargetMet ? 'met' : 'MISSED'})`,
  );
  if (t.timeVsPigz !== undefined) {
    log(
      `pd gzip vs tar|pigz -6: ${t.timeVsPigz.toFixed(2)}x the time (target <= 1.1x: ${t.pigzTargetMet ? 'met' : 'MISSED'})`,
    );
  }
  if (t.timeVsPigzAllCores !== undefined) {
    log(`pd gzip vs tar|pigz -6 -p${r.cores}: ${t.timeVsPigzAllCores.toFixed(2)}x the time (informational)`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const iterations = Number(process.argv[2] ?? process.env.PD_BENCH_ITERATIONS ?? 5);
  const r = await run({ iterations });
  report(r);
  await rename(join(work, 'out'), join(work, 'out.last')).catch(() => undefined);
  await rm(join(work, 'out.last'), { recursive: true, force: true });
}

export { report };
