#!/usr/bin/env node
// Append one small file onto the large fixture image and push the result to a new repository of
// the same registry: `pd append BASE --layer FILE:DEST -t NEW` against `containerify
// --doCrossMount` doing the same job. Both go through a counting proxy in front of the registry,
// which tells how many base-layer bytes each one downloaded (the target: none for pd).
// Cache state: pd gets an empty PD_CACHE_DIR per run; containerify its default (a temporary
// layer folder per run). Every run pushes to a new repository.
// (bench/cases/image.mjs measures the same job through @pd/image's library API, in-process.)
// Standalone: pnpm build && PD_TEST_DOCKER_HOST=... node bench/cases/append.mjs [iterations]
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { floorsOf, nodeStart, pdVersion } from '../lib/floors.mjs';
import { alternate, median } from '../lib/measure.mjs';
import { pdArgv, pdCommandMissing, pdEnv } from '../lib/pd.mjs';
import { notRun, pairResult } from '../lib/result.mjs';
import { CONTAINERIFY_VERSION, ensureContainerify, runStandalone } from '../lib/setup.mjs';

const CASE = { name: 'append one file + push to new repo', target: '≤ 0.25×, 0 base bytes', maxRatio: 0.25 };

export async function run({ ctx, iterations = 5, warmups = 1 } = {}) {
  const { log } = ctx;
  const missing = await pdCommandMissing('append');
  if (missing) return [notRun(CASE.name, CASE.target, missing)];
  const cli = await ensureContainerify(log);
  const large = await ctx.largeImage();
  const proxy = await ctx.proxy();
  const registry = await ctx.registry();
  const out = join(ctx.work, 'append');
  await rm(out, { recursive: true, force: true });
  const app = join(out, 'app');
  await mkdir(app, { recursive: true });
  await writeFile(join(app, 'hello.txt'), 'hello from the append benchmark\n');
  const base = `${large.repository}:${large.tag}`;
  const baseDigests = new Set(large.layers.map((l) => l.digest));
  /** Bytes of base-layer blobs the registry sent (through the proxy) since the last reset. */
  const baseBytes = () =>
    proxy
      .requests({ method: 'GET' })
      .filter((r) => baseDigests.has(r.path.split('/').at(-1)))
      .reduce((n, r) => n + r.responseBytes, 0);
  const check = async (repo) => {
    const got = await ctx.fx.readPushedImage(registry, repo, 'latest');
    const same = large.layers.every((l, i) => got.layers[i]?.digest === l.digest);
    if (!same || got.layers.length !== large.layers.length + 1) {
      throw new Error(`${repo}: the pushed image is not the base plus one layer`);
    }
  };
  let n = 0;
  const side = (name, job) => ({
    prepare: async () => {
      const repo = `bench/append-${name}-${process.pid}-${n++}`;
      const cache = join(out, `cache-${n}`);
      proxy.resetStats();
      return {
        ...job(repo, cache),
        after: async () => {
          const bytes = baseBytes();
          await check(repo);
          await rm(cache, { recursive: true, force: true });
          return { baseBytes: bytes };
        },
      };
    },
  });
  // Floors: Node starting, and Node loading pd's CLI (no request).
  const floors = { ...nodeStart(), ...pdVersion() };
  log(`[append] pd append vs containerify ${CONTAINERIFY_VERSION} --doCrossMount (base ${base})`);
  const r = await alternate(
    {
      pd: side('pd', (repo, cache) => ({
        argv: pdArgv(
          'append',
          `${proxy.host}/${base}`,
          '--layer',
          `${join(app, 'hello.txt')}:/app/hello.txt`,
          '-t',
          `${proxy.host}/${repo}:latest`,
        ),
        env: pdEnv(cache),
      })),
      containerify: side('containerify', (repo) => ({
        argv: [
          process.execPath,
          cli,
          '--registry',
          `http://${proxy.host}/v2/`,
          '--fromImage',
          base,
          '--toImage',
          `${repo}:latest`,
          '--folder',
          app,
          '--customContent',
          'hello.txt:/app/hello.txt',
          '--doCrossMount',
          '--allowInsecureRegistries',
          '--allowNoPushAuth',
        ],
      })),
      ...floors,
    },
    { iterations, warmups, log },
  );
  await rm(out, { recursive: true, force: true });
  const pdBase = Math.max(...r.pd.runs.map((x) => x.baseBytes));
  const cfyBase = median(r.containerify.runs.map((x) => x.baseBytes));
  return [
    pairResult({
      name: CASE.name,
      pd: r.pd,
      peer: { name: 'containerify --doCrossMount', ...r.containerify },
      pdCommand: 'pd append BASE --layer FILE:DEST -t NEW',
      peerCommand: `containerify@${CONTAINERIFY_VERSION} --fromImage BASE --toImage NEW --customContent FILE:DEST --doCrossMount`,
      target: CASE.target,
      maxRatio: CASE.maxRatio,
      floors: floorsOf(r, Object.keys(floors)),
      checks: [{ ok: pdBase === 0, note: `pd downloaded ${pdBase} base-layer bytes (most of any run)` }],
      notes: [
        `containerify downloaded ${cfyBase} base-layer bytes (median)`,
        'both through a counting proxy in front of the registry; pd: empty PD_CACHE_DIR per run',
      ],
    }),
  ];
}

await runStandalone(import.meta.url, run, 3);
