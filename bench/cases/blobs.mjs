#!/usr/bin/env node
// Registry cases: pull into an OCI layout and into a docker archive (pd pull vs skopeo copy), and
// copy to a new repository of the same registry (pd copy vs skopeo copy). The image is the
// harness's large fixture (test-fixtures largeImage: 4 data layers, half random, half text, plus
// busybox), built and pushed to the loopback CNCF registry by the Docker engine.
// Cache state: pd gets an empty PD_CACHE_DIR for every run (skopeo keeps no blob cache); outputs
// and destination repositories are new for every run.
// Standalone: pnpm build && node bench/cases/blobs.mjs [iterations]
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alternate } from '../lib/measure.mjs';
import { pdArgv, pdCommandMissing, pdEnv } from '../lib/pd.mjs';
import { notRun, pairResult } from '../lib/result.mjs';
import { createContext, ensureTools, which } from '../lib/setup.mjs';

const NODE_FLOOR = fileURLToPath(new URL('../lib/node-fetch-floor.mjs', import.meta.url));

export const CASES = {
  'pull-oci': { name: 'pull → OCI layout', target: '≤ 0.5×', maxRatio: 0.5 },
  'pull-docker-archive': { name: 'pull → docker-archive', target: '≤ 0.5×, RSS ≤ 200 MB', maxRatio: 0.5 },
  copy: { name: 'registry → registry copy, same registry', target: '≤ 2×', maxRatio: 2 },
};

const skopeoTls = ['--src-tls-verify=false', '--dest-tls-verify=false'];

/** Blob file names and sizes of an OCI layout (to check both tools fetched the same layers). */
async function layoutBlobs(dir) {
  const names = await readdir(join(dir, 'blobs', 'sha256'));
  return new Map(
    await Promise.all(names.map(async (n) => [n, (await stat(join(dir, 'blobs', 'sha256', n))).size])),
  );
}

export async function run({ ctx, iterations = 5, only = Object.keys(CASES) } = {}) {
  const { log } = ctx;
  const wanted = Object.keys(CASES).filter((k) => only.includes(k));
  const results = [];
  const missing = {};
  for (const key of wanted) {
    missing[key] = await pdCommandMissing(key === 'copy' ? 'copy' : 'pull');
    if (missing[key]) results.push(notRun(CASES[key].name, CASES[key].target, missing[key]));
  }
  const todo = wanted.filter((k) => !missing[k]);
  if (todo.length === 0) return results;
  await ensureTools(['skopeo'], log);
  const large = await ctx.largeImage();
  const registry = await ctx.registry();
  const src = `${registry.host}/${large.repository}:${large.tag}`;
  const out = join(ctx.work, 'pull');
  await rm(out, { recursive: true, force: true });
  const layerHexes = large.layers.map((l) => l.digest.slice('sha256:'.length));
  const notes = [
    `image: ${large.layers.length} layers, ${(large.layers.reduce((n, l) => n + l.size, 0) / 2 ** 20).toFixed(0)} MiB compressed`,
  ];

  /** A pd side with a fresh empty cache and output per run, removed after it. */
  const pdSide = (args, check) => ({
    prepare: async (round) => {
      const dir = join(out, `pd-${round < 0 ? 'warmup' : round}`);
      const cache = join(dir, 'cache');
      await mkdir(dir, { recursive: true });
      return {
        argv: pdArgv(...args(dir)),
        env: pdEnv(cache),
        after: async () => {
          await check?.(dir, round);
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  });
  const skopeoSide = (args, check) => ({
    prepare: async (round) => {
      const dir = join(out, `skopeo-${round < 0 ? 'warmup' : round}`);
      await mkdir(dir, { recursive: true });
      return {
        argv: ['skopeo', 'copy', '-q', ...skopeoTls, ...args(dir, round)],
        after: async () => {
          await check?.(dir, round);
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  });

  if (todo.includes('pull-oci')) {
    log(`[pull-oci] pd pull vs skopeo copy docker:// oci: (${src})`);
    // Both layouts must hold every layer blob, byte for byte the registry's.
    const checkLayout = async (dir) => {
      const blobs = await layoutBlobs(dir.endsWith('layout') ? dir : join(dir, 'layout'));
      for (const [i, hex] of layerHexes.entries()) {
        if (blobs.get(hex) !== large.layers[i].size)
          throw new Error(`${dir}: layer ${hex} missing or wrong size`);
      }
    };
    // The floor of any pull: curl fetching the same layer blobs, six at a time, into files.
    const curlFloor = {
      prepare: async (round) => {
        const dir = join(out, `curl-${round < 0 ? 'warmup' : round}`);
        await mkdir(dir, { recursive: true });
        const urls = large.layers.map(
          (l) => `http://${registry.host}/v2/${large.repository}/blobs/${l.digest}`,
        );
        return {
          argv: [
            'curl',
            '-sfL',
            '--parallel',
            '--parallel-max',
            '6',
            ...urls.flatMap((u, i) => ['-o', join(dir, `l${i}`), u]),
          ],
          after: () => rm(dir, { recursive: true, force: true }),
        };
      },
    };
    // The floor of a pull in Node: a minimal program (no pd code) fetching, hashing and writing
    // the same blobs, all at once (bench/lib/node-fetch-floor.mjs).
    const nodeFloor = {
      prepare: async (round) => {
        const dir = join(out, `node-${round < 0 ? 'warmup' : round}`);
        await mkdir(dir, { recursive: true });
        return {
          argv: [
            process.execPath,
            NODE_FLOOR,
            dir,
            ...large.layers.map(
              (l) => `http://${registry.host}/v2/${large.repository}/blobs/${l.digest}#${l.digest}`,
            ),
          ],
          after: () => rm(dir, { recursive: true, force: true }),
        };
      },
    };
    const r = await alternate(
      {
        pd: pdSide((dir) => ['pull', src, '-o', join(dir, 'layout')], checkLayout),
        skopeo: skopeoSide((dir) => [`docker://${src}`, `oci:${join(dir, 'layout')}:latest`], checkLayout),
        node: nodeFloor,
        ...(which('curl') ? { curl: curlFloor } : {}),
      },
      { iterations, log },
    );
    const ofSkopeo = (ms) => `${(ms / 1000).toFixed(2)} s, ${(ms / r.skopeo.medianMs).toFixed(2)}× skopeo`;
    if (r.curl) {
      notes.push(
        `floor: curl --parallel of the layer blobs into files ${ofSkopeo(r.curl.medianMs)} (no hashing, no layout)`,
      );
    }
    notes.push(
      `Node floor: a minimal Node program (undici, sha256, batched writes; no pd code) fetching the layer blobs ${ofSkopeo(r.node.medianMs)}`,
    );
    results.push(
      pairResult({
        name: CASES['pull-oci'].name,
        pd: r.pd,
        peer: { name: 'skopeo copy docker:// oci:', ...r.skopeo },
        pdCommand: 'pd pull REF -o DIR',
        peerCommand: 'skopeo copy docker://REF oci:DIR:latest',
        target: CASES['pull-oci'].target,
        maxRatio: CASES['pull-oci'].maxRatio,
        notes: [
          ...notes,
          `pd is ${(r.pd.medianMs / r.node.medianMs).toFixed(2)}× the Node floor`,
          'pd: empty PD_CACHE_DIR per run (on the same filesystem as the output)',
        ],
      }),
    );
  }

  if (todo.includes('pull-docker-archive')) {
    log(`[pull-docker-archive] pd pull --format docker vs skopeo copy docker:// docker-archive: (${src})`);
    const sizes = { pd: 0, skopeo: 0 };
    const checkArchive = (who) => async (dir) => {
      const file = join(dir, 'image.tar');
      sizes[who] = (await stat(file)).size;
      const head = await readFile(file).then((b) => b.subarray(0, 512));
      if (head.length < 512) throw new Error(`${file}: not a tar`);
    };
    const r = await alternate(
      {
        pd: pdSide(
          (dir) => ['pull', src, '-o', join(dir, 'image.tar'), '--format', 'docker'],
          checkArchive('pd'),
        ),
        skopeo: skopeoSide(
          (dir) => [`docker://${src}`, `docker-archive:${join(dir, 'image.tar')}:bench/large:latest`],
          checkArchive('skopeo'),
        ),
      },
      { iterations, log },
    );
    const peakOk = r.pd.peakRssMB <= 200;
    results.push(
      pairResult({
        name: CASES['pull-docker-archive'].name,
        pd: r.pd,
        peer: { name: 'skopeo copy docker:// docker-archive:', ...r.skopeo },
        pdCommand: 'pd pull REF -o FILE.tar --format docker',
        peerCommand: 'skopeo copy docker://REF docker-archive:FILE.tar:TAG',
        target: CASES['pull-docker-archive'].target,
        maxRatio: CASES['pull-docker-archive'].maxRatio,
        checks: [{ ok: peakOk, note: `pd peak RSS ${r.pd.peakRssMB.toFixed(0)} MB (≤ 200 MB)` }],
        notes: [
          ...notes,
          `archive size: pd ${(sizes.pd / 2 ** 20).toFixed(0)} MiB (layers kept gzip), skopeo ${(sizes.skopeo / 2 ** 20).toFixed(0)} MiB (skopeo decompresses layers)`,
          'pd: empty PD_CACHE_DIR per run',
        ],
      }),
    );
  }

  if (todo.includes('copy')) {
    log(`[copy] pd copy vs skopeo copy docker:// docker:// within ${registry.host}`);
    const manifestDigest = async (repo) => {
      const res = await fetch(`${registry.url}/v2/${repo}/manifests/latest`, {
        method: 'HEAD',
        headers: { accept: large.mediaType },
      });
      return res.headers.get('docker-content-digest');
    };
    const checkCopy = (repo) => async () => {
      const got = await manifestDigest(repo);
      if (got !== large.digest) throw new Error(`${repo}: copy has manifest ${got}, source ${large.digest}`);
    };
    let n = 0;
    const r = await alternate(
      {
        pd: {
          prepare: async () => {
            const repo = `bench/copy-pd-${process.pid}-${n++}`;
            const cache = join(out, `pd-copy-cache-${n}`);
            return {
              argv: pdArgv('copy', src, `${registry.host}/${repo}:latest`),
              env: pdEnv(cache),
              after: async () => {
                await checkCopy(repo)();
                await rm(cache, { recursive: true, force: true });
              },
            };
          },
        },
        skopeo: {
          prepare: async () => {
            const repo = `bench/copy-skopeo-${process.pid}-${n++}`;
            return {
              argv: [
                'skopeo',
                'copy',
                '-q',
                ...skopeoTls,
                `docker://${src}`,
                `docker://${registry.host}/${repo}:latest`,
              ],
              after: checkCopy(repo),
            };
          },
        },
        // The floor under pd's side: Node starting, and Node loading the CLI (no request).
        node: { prepare: async () => ({ argv: [process.execPath, '-e', '0'] }) },
        'pd version': { prepare: async () => ({ argv: pdArgv('version') }) },
      },
      { iterations, log },
    );
    results.push(
      pairResult({
        name: CASES.copy.name,
        pd: r.pd,
        peer: { name: 'skopeo copy docker:// docker://', ...r.skopeo },
        pdCommand: 'pd copy SRC DST',
        peerCommand: 'skopeo copy docker://SRC docker://DST',
        target: CASES.copy.target,
        maxRatio: CASES.copy.maxRatio,
        notes: [
          ...notes,
          'new destination repository per run; both mount blobs within the registry (skopeo through its blob-info cache)',
          `floor: \`node -e 0\` ${(r.node.medianMs / 1000).toFixed(2)} s, \`pd version\` (Node + the CLI loaded) ${(r['pd version'].medianMs / 1000).toFixed(2)} s; pd's copy is ${Math.round(r.pd.medianMs - r['pd version'].medianMs)} ms above \`pd version\` (bench/cases/copy-ladder.mjs splits it)`,
        ],
      }),
    );
  }
  await rm(out, { recursive: true, force: true });
  return results;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const ctx = await createContext();
  try {
    const rows = await run({ ctx, iterations: Number(process.argv[2] ?? 3) });
    console.log(JSON.stringify(rows, null, 2));
  } finally {
    await ctx.close();
  }
}
