#!/usr/bin/env node
// Layer from a directory: `pd layer create DIR -o FILE` (gzip -6, the default) against
// `tar -c | pigz -6` (target ≤ 0.9×; `tar -c | gzip -6` for context), run alternately with the
// floors `tar -c | cat` (reading the tree, no compression), `node -e 0`, Node's zlib on every
// core (deflate-floor.mjs) and the rest of the job around it (layer-job-floor.mjs: hashing, CRC
// and writing, fed from the tree's tar file or from `tar -c`) on one ~350 MB tree (shared
// libraries, generated source, random data, 20 000 tiny files, links). Every run writes a new
// file; the tree stays in the page cache after the warm-up (so this measures CPU, not the disk).
// Standalone: pnpm build && node bench/cases/layer.mjs [iterations]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { floorsOf, nodeStart } from '../lib/floors.mjs';
import { alternate } from '../lib/measure.mjs';
import { pdArgv, pdCommandMissing, pdEnv } from '../lib/pd.mjs';
import { notRun, pairResult } from '../lib/result.mjs';
import { ensureTools } from '../lib/setup.mjs';
import { command } from '../lib/sides.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const work = join(root, 'bench', '.work', 'layer');
const dataDir = join(work, 'tree');
const DATA_VERSION = '1';
/** Written when the tree is complete: its content (a date) changes with every build of it. */
export const TREE_STAMP = join(work, `tree.v${DATA_VERSION}.done`);

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
  if (existsSync(TREE_STAMP)) return dataDir;
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
  await writeFile(TREE_STAMP, new Date().toISOString());
  return dataDir;
}

const DEFLATE_FLOOR = fileURLToPath(new URL('./deflate-floor.mjs', import.meta.url));
const JOB_FLOOR = fileURLToPath(new URL('./layer-job-floor.mjs', import.meta.url));
const CASE = { name: 'layer from a directory', target: '≤ 0.9× pigz', maxRatio: 0.9 };

export async function run({ ctx, iterations = 5, warmups = 1 } = {}) {
  const { log } = ctx;
  const missing = await pdCommandMissing('layer create');
  if (missing) return [notRun(CASE.name, CASE.target, missing)];
  await ensureTools(['pigz'], log);
  const dir = await prepareTree(log);
  const out = join(work, 'out');
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const inputBytes = Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);
  const sizes = {};
  const side = (name, argv) => ({
    prepare: async () => {
      const file = join(out, name);
      return {
        ...argv(file),
        after: async () => {
          sizes[name] = (await stat(file)).size;
          await rm(file, { force: true });
        },
      };
    },
  });
  const shell = (compressor) => (file) => ({
    argv: ['sh', '-c', `tar -c -C '${dir}' . | ${compressor} > '${file}'`],
  });
  // Floors, each a rung above the one before: reading the tree into one tar stream (no
  // compression), Node's start-up, the compression alone on every core (deflate-floor.mjs, on the
  // tree's tar made here untimed), then the whole job but the walk (layer-job-floor.mjs: that tar
  // hashed, CRC'd, compressed on every core and written), and the same fed by `tar -c`.
  const tarred = join(out, 'input.tar');
  execFileSync('tar', ['-c', '-f', tarred, '-C', dir, '.']);
  const jobFloor = `'${process.execPath}' '${JOB_FLOOR}'`;
  const floors = {
    ...nodeStart(),
    'tar -c | cat': side('tar', shell('cat')),
    'node zlib -6 on every core': command([process.execPath, DEFLATE_FLOOR, tarred]),
    'node: the tar → sha256 + crc32 + zlib -6 on every core + file': side('job', (file) => ({
      argv: ['sh', '-c', `${jobFloor} '${tarred}' > '${file}'`],
    })),
    'tar -c | the same': side('tar-job', shell(jobFloor)),
  };
  log(
    `[layer] pd layer create vs tar|pigz -6 and tar|gzip -6 (${(inputBytes / 2 ** 20).toFixed(0)} MiB, ${availableParallelism()} cores)`,
  );
  const r = await alternate(
    {
      pd: side('pd', (file) => ({
        argv: pdArgv('layer', 'create', dir, '-o', file),
        env: pdEnv(join(out, 'cache')),
      })),
      pigz: side('pigz', shell('pigz -6')),
      gzip: side('gzip', shell('gzip -6')),
      ...floors,
    },
    { iterations, warmups, log },
  );
  await rm(out, { recursive: true, force: true });
  const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return [
    pairResult({
      name: CASE.name,
      pd: r.pd,
      peer: { name: 'tar | pigz -6', ...r.pigz },
      pdCommand: 'pd layer create DIR -o FILE',
      peerCommand: "sh -c 'tar -c -C DIR . | pigz -6 > FILE'",
      target: CASE.target,
      maxRatio: CASE.maxRatio,
      floors: floorsOf(r, Object.keys(floors)),
      // The job but the walk: a lower bound of pd's (GNU tar's walk in front of it is not one).
      jobFloor: 'node: the tar → sha256 + crc32 + zlib -6 on every core + file',
      notes: [
        `input ${mib(inputBytes)}; output pd ${mib(sizes.pd)}, pigz ${mib(sizes.pigz)}, gzip ${mib(sizes.gzip)}`,
        `tar | gzip -6 (one core) ${(r.gzip.medianMs / 1000).toFixed(2)} s: pd ${(r.pd.medianMs / r.gzip.medianMs).toFixed(2)}× of it`,
        `${availableParallelism()} cores; pigz picks its own thread count`,
      ],
    }),
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rows = await run({ ctx: { log: console.log }, iterations: Number(process.argv[2] ?? 3) });
  console.log(JSON.stringify(rows, null, 2));
}
