#!/usr/bin/env node
// Pull cases: the harness's fixture image (test-fixtures largeImage, --size-mb, 4 data layers half
// random, half text, on busybox) from the loopback CNCF registry into an OCI layout and into a
// docker archive: `pd pull` against `skopeo copy`, start-up included. The floors run in the same
// rounds: `node -e 0`, the Node ladder on the same layer blobs (raw net.Socket; raw net.Socket +
// sha256 + files; node:http + sha256; undici + sha256 + files: lib/node-fetch-floor.mjs) and
// `curl --parallel`.
// Cache state: pd gets an empty PD_CACHE_DIR for every run (skopeo keeps no blob cache); every
// run writes a new output.
// Standalone: pnpm build && node bench/cases/pull.mjs [iterations]
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { blobUrls, curlFetch, floorsOf, nodeFetchLadder, nodeStart } from '../lib/floors.mjs';
import { alternate } from '../lib/measure.mjs';
import { pdArgv, pdEnv, runnable } from '../lib/pd.mjs';
import { pairResult } from '../lib/result.mjs';
import { ensureTools, runStandalone, SKOPEO_TLS } from '../lib/setup.mjs';
import { scratchSide } from '../lib/sides.mjs';

export const CASES = {
  'pull-oci': {
    name: 'pull → OCI layout',
    target: '≤ 0.6×, RSS ≤ 200 MB',
    maxRatio: 0.6,
    jobFloor: 'node net.Socket + sha256 + files',
  },
  'pull-docker-archive': {
    name: 'pull → docker-archive',
    target: '≤ 0.4×, RSS ≤ 200 MB',
    maxRatio: 0.4,
    jobFloor: 'node net.Socket + sha256 + files',
  },
};
const MAX_RSS_MB = 200;

/** Blob file names and sizes of an OCI layout. */
async function layoutBlobs(dir) {
  const names = await readdir(join(dir, 'blobs', 'sha256'));
  return new Map(
    await Promise.all(names.map(async (n) => [n, (await stat(join(dir, 'blobs', 'sha256', n))).size])),
  );
}

/** A check that an OCI layout holds every layer of `image`, at its registry size. */
export const holdsLayers = (image) => async (dir) => {
  const blobs = await layoutBlobs(join(dir, 'layout'));
  for (const l of image.layers) {
    if (blobs.get(l.digest.slice('sha256:'.length)) !== l.size)
      throw new Error(`${dir}: layer ${l.digest} missing or of the wrong size`);
  }
};

/** pd pull and skopeo copy into `dir/layout`, fresh each run. */
export function pullSides(scratch, src, image) {
  return {
    pd: scratchSide(
      scratch,
      'pd',
      (dir) => ({ argv: pdArgv('pull', src, '-o', join(dir, 'layout')), env: pdEnv(join(dir, 'cache')) }),
      holdsLayers(image),
    ),
    skopeo: scratchSide(
      scratch,
      'skopeo',
      (dir) => ({
        argv: ['skopeo', 'copy', '-q', ...SKOPEO_TLS, `docker://${src}`, `oci:${join(dir, 'layout')}:latest`],
      }),
      holdsLayers(image),
    ),
  };
}

/** The pull floors on the layers of `image`: node -e 0, the Node ladder, curl --parallel. */
export function pullFloors(scratch, registry, image) {
  const blobs = blobUrls(registry, image);
  return { ...nodeStart(), ...nodeFetchLadder(scratch, blobs), ...curlFetch(scratch, blobs) };
}

export async function run({ ctx, iterations = 5, warmups = 1, only = Object.keys(CASES) } = {}) {
  const { log } = ctx;
  const { todo: wanted, rows } = await runnable(
    CASES,
    Object.keys(CASES).filter((k) => only.includes(k)),
    () => 'pull',
  );
  if (wanted.length === 0) return rows;
  await ensureTools(['skopeo', 'curl'], log);
  const { image, registry, src } = await ctx.source();
  const scratch = await ctx.scratch('pull');

  const sizes = {};
  const archiveSide = (who, argv) =>
    scratchSide(scratch, `${who}-archive`, argv, async (dir) => {
      const file = join(dir, 'image.tar');
      sizes[who] = (await stat(file)).size;
      const head = await readFile(file).then((b) => b.subarray(257, 262).toString('latin1'));
      if (head !== 'ustar') throw new Error(`${file}: not a tar`);
    });
  const pull = pullSides(scratch, src, image);
  const floorSides = pullFloors(scratch, registry, image);
  const sides = {
    ...(wanted.includes('pull-oci') ? { 'pd oci': pull.pd, 'skopeo oci': pull.skopeo } : {}),
    ...(wanted.includes('pull-docker-archive')
      ? {
          'pd archive': archiveSide('pd', (dir) => ({
            argv: pdArgv('pull', src, '-o', join(dir, 'image.tar'), '--format', 'docker'),
            env: pdEnv(join(dir, 'cache')),
          })),
          'skopeo archive': archiveSide('skopeo', (dir) => ({
            argv: [
              'skopeo',
              'copy',
              '-q',
              ...SKOPEO_TLS,
              `docker://${src}`,
              `docker-archive:${join(dir, 'image.tar')}:bench/large:latest`,
            ],
          })),
        }
      : {}),
    ...floorSides,
  };
  log(`[pull] ${wanted.join(', ')}: pd pull vs skopeo copy, with floors (${src})`);
  const r = await alternate(sides, { iterations, warmups, log });
  await rm(scratch, { recursive: true, force: true });

  const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const floors = floorsOf(r, Object.keys(floorSides));
  const notes = [
    `image: ${image.layers.length} layers, ${mib(image.layers.reduce((n, l) => n + l.size, 0))} compressed; floors fetch the same layer blobs`,
  ];
  const row = (key, pd, peer, peerName, peerCommand, pdCommand, extra = []) =>
    pairResult({
      ...CASES[key],
      pd,
      peer: { name: peerName, ...peer },
      pdCommand,
      peerCommand,
      checks: [
        {
          ok: pd.peakRssMB <= MAX_RSS_MB,
          note: `pd peak RSS ${pd.peakRssMB.toFixed(0)} MB (≤ ${MAX_RSS_MB} MB)`,
        },
      ],
      floors,
      notes: [...notes, ...extra, 'pd: empty PD_CACHE_DIR per run'],
    });
  if (r['pd oci'])
    rows.push(
      row(
        'pull-oci',
        r['pd oci'],
        r['skopeo oci'],
        'skopeo copy docker:// oci:',
        'skopeo copy docker://REF oci:DIR:latest',
        'pd pull REF -o DIR',
      ),
    );
  if (r['pd archive'])
    rows.push(
      row(
        'pull-docker-archive',
        r['pd archive'],
        r['skopeo archive'],
        'skopeo copy docker:// docker-archive:',
        'skopeo copy docker://REF docker-archive:FILE.tar:TAG',
        'pd pull REF -o FILE.tar --format docker',
        [`archive size: pd ${mib(sizes.pd)}, skopeo ${mib(sizes.skopeo)} (skopeo decompresses layers)`],
      ),
    );
  return rows;
}

await runStandalone(import.meta.url, run, 3);
