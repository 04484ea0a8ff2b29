#!/usr/bin/env node
// Registry → registry copy of the harness's fixture image: `pd copy` against `skopeo copy
// docker:// docker://`, to a new repository of the same registry (both mount the blobs), and to
// a second registry (a fresh startRegistry instance for every run, stopped after it, so every
// blob really travels and neither side's memory of earlier runs helps it).
// Floors in the same rounds: `node -e 0`, `pd version` (Node + the CLI loaded); across
// registries also `curl --parallel` downloading the layer blobs (half the bytes moved) and
// copy-socket-floor.mjs (the whole copy by a Node program on raw sockets, no HTTP library); where
// the blobs are mounted, the same script's mounts (the manifest, every mount at once and the PUT
// over node:http: the least a Node program does for that copy).
// Cache state: pd gets an empty PD_CACHE_DIR per run; skopeo keeps its blob-info cache.
// Again into a new repository: a fresh second registry per run that each tool first filled itself
// (outside the timing: pd with the run's PD_CACHE_DIR, skopeo with its blob-info cache), then the
// timed copy into another repository of it: both know where the blobs already are and mount them.
// bench/cases/copy-ladder.mjs splits a same-registry copy request by request.
// Standalone: pnpm build && node bench/cases/copy.mjs [iterations]
import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blobUrls, curlFetch, floorsOf, nodeStart, pdVersion } from '../lib/floors.mjs';
import { alternate } from '../lib/measure.mjs';
import { pdArgv, pdEnv, runnable } from '../lib/pd.mjs';
import { pairResult } from '../lib/result.mjs';
import { ensureTools, runStandalone, SKOPEO_TLS } from '../lib/setup.mjs';
import { scratchSide } from '../lib/sides.mjs';

const COPY_FLOOR = fileURLToPath(new URL('./copy-socket-floor.mjs', import.meta.url));

export const CASES = {
  copy: {
    name: 'registry → registry copy, same registry',
    target: '≤ 2×',
    maxRatio: 2,
    jobFloor: 'node: manifest, mounts, manifest PUT',
  },
  'copy-registries': {
    name: 'registry → registry copy, two registries',
    target: '≤ 0.7×',
    maxRatio: 0.7,
    jobFloor: 'node raw-socket copy',
  },
  'copy-again': {
    name: 'registry → registry copy, again into a new repository',
    target: '≤ 2× (as within one registry)',
    maxRatio: 2,
    jobFloor: 'node: manifest, mounts, manifest PUT',
  },
};

/** The manifest digest a registry serves for `repo:latest` (over HTTPS, its certificate unchecked). */
function manifestDigest(registry, repo, mediaType) {
  const url = `${registry.url}/v2/${repo}/manifests/latest`;
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    send(url, { method: 'HEAD', headers: { accept: mediaType }, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.headers['docker-content-digest']);
    })
      .on('error', reject)
      .end();
  });
}

/**
 * The floor side's name: copy-socket-floor.mjs pipes every blob across registries (`tls`: both
 * over HTTPS), else mounts them.
 */
export const FLOOR_NAMES = {
  pipe: 'node raw-socket copy',
  tls: 'node TLS-socket copy',
  mount: 'node: manifest, mounts, manifest PUT',
};

/**
 * pd copy and skopeo copy of `src` to a new repository of the registry `dest(round)` gives
 * (`{ registry, stop? }`), the copy checked to serve the source's manifest digest; `floor`
 * (`pipe`, `tls` or `mount`) adds copy-socket-floor.mjs, checked the same way: with `seed` its
 * timed copy mounts from the repository its seeding copy filled.
 */
export function copySides(scratch, src, image, dest, { floor, seed = false } = {}) {
  const side = (who, argv) =>
    scratchSide(scratch, who, async (dir) => {
      const d = await dest();
      const repo = `bench/copy-${who}-${process.pid}-${Date.now()}`;
      if (seed) {
        // The same tool, the same state, into another repository first: not timed.
        const first = argv(`${d.registry.host}/bench/seed-${who}:latest`, dir, { seeding: true });
        const r = spawnSync(first.argv[0], first.argv.slice(1), {
          env: first.env ?? process.env,
          encoding: 'utf8',
        });
        if (r.status !== 0) throw new Error(`${who}: seeding copy failed: ${r.stderr}`);
      }
      return {
        ...argv(`${d.registry.host}/${repo}:latest`, dir),
        cleanup: async () => {
          const got = await manifestDigest(d.registry, repo, image.mediaType);
          await d.stop?.();
          if (got !== image.digest)
            throw new Error(`${repo}: copy has manifest ${got}, source ${image.digest}`);
        },
      };
    });
  return {
    pd: side('pd', (to, dir) => ({ argv: pdArgv('copy', src, to), env: pdEnv(join(dir, 'cache')) })),
    skopeo: side('skopeo', (to) => ({
      argv: ['skopeo', 'copy', '-q', ...SKOPEO_TLS, `docker://${src}`, `docker://${to}`],
    })),
    ...(floor
      ? {
          [FLOOR_NAMES[floor]]: side('floor', (to, _dir, { seeding = false } = {}) => ({
            argv: [
              process.execPath,
              COPY_FLOOR,
              ...(floor === 'tls' ? ['--tls'] : []),
              src,
              to,
              ...(seed && !seeding ? ['bench/seed-floor'] : []),
            ],
          })),
        }
      : {}),
  };
}

export async function run({ ctx, iterations = 5, warmups = 1, only = Object.keys(CASES) } = {}) {
  const { log } = ctx;
  const { todo: wanted, rows } = await runnable(
    CASES,
    Object.keys(CASES).filter((k) => only.includes(k)),
    () => 'copy',
  );
  if (wanted.length === 0) return rows;
  await ensureTools(['skopeo', 'curl'], log);
  const { image, registry, src } = await ctx.source();
  const scratch = await ctx.scratch('copy');
  const size = `${(image.layers.reduce((n, l) => n + l.size, 0) / 2 ** 20).toFixed(0)} MiB`;
  const row = (key, r, floorNames, notes) =>
    pairResult({
      ...CASES[key],
      pd: r.pd,
      peer: { name: 'skopeo copy docker:// docker://', ...r.skopeo },
      pdCommand: 'pd copy SRC DST',
      peerCommand: 'skopeo copy docker://SRC docker://DST',
      floors: floorsOf(r, floorNames),
      notes: [
        `image: ${image.layers.length} layers, ${size} compressed`,
        ...notes,
        'pd: empty PD_CACHE_DIR per run',
      ],
    });

  if (wanted.includes('copy')) {
    log(`[copy] pd copy vs skopeo copy within ${registry.host}`);
    const floors = { ...nodeStart(), ...pdVersion() };
    const r = await alternate(
      { ...copySides(scratch, src, image, async () => ({ registry }), { floor: 'mount' }), ...floors },
      { iterations, warmups, log },
    );
    rows.push(
      row(
        'copy',
        r,
        [...Object.keys(floors), FLOOR_NAMES.mount],
        [
          'new destination repository per run; both mount the blobs (skopeo from its blob-info cache)',
          `pd's copy is ${Math.round(r.pd.medianMs - r['pd version'].medianMs)} ms above \`pd version\` (bench/cases/copy-ladder.mjs splits it)`,
          'node: manifest, mounts, manifest PUT floor: bench/cases/copy-socket-floor.mjs, the manifest GET, every blob mounted at once and the PUT over node:http, nothing else',
        ],
      ),
    );
  }
  if (wanted.includes('copy-registries')) {
    log(`[copy-registries] pd copy vs skopeo copy from ${registry.host} to a new registry per run`);
    const fresh = async () => {
      const d = await ctx.fx.startRegistry();
      return { registry: d, stop: () => d.stop() };
    };
    const floors = { ...nodeStart(), ...pdVersion(), ...curlFetch(scratch, blobUrls(registry, image)) };
    const r = await alternate(
      { ...copySides(scratch, src, image, fresh, { floor: 'pipe' }), ...floors },
      { iterations, warmups, log },
    );
    rows.push(
      row(
        'copy-registries',
        r,
        [...Object.keys(floors), FLOOR_NAMES.pipe],
        [
          'destination: a registry started empty for each run (outside the timing); every blob is downloaded and uploaded',
          'curl --parallel floor: the download half only (the same layer blobs into files)',
          'node raw-socket copy floor: bench/cases/copy-socket-floor.mjs, every blob GET and PUT on raw sockets at once, hashed, no HTTP library, no retries',
        ],
      ),
    );
  }
  if (wanted.includes('copy-again')) {
    log(
      `[copy-again] pd copy vs skopeo copy from ${registry.host} into a second repository of a registry each filled first`,
    );
    const fresh = async () => {
      const d = await ctx.fx.startRegistry();
      return { registry: d, stop: () => d.stop() };
    };
    const floors = { ...nodeStart(), ...pdVersion() };
    const r = await alternate(
      { ...copySides(scratch, src, image, fresh, { floor: 'mount', seed: true }), ...floors },
      { iterations, warmups, log },
    );
    rows.push(
      row(
        'copy-again',
        r,
        [...Object.keys(floors), FLOOR_NAMES.mount],
        [
          'destination: a registry started empty for each run, into which the same tool first copied the image (not timed); then the timed copy into a new repository',
          'pd mounts from where its cache noted the blobs (PD_CACHE_DIR shared by both copies of a run), skopeo from its blob-info cache',
          'node: manifest, mounts, manifest PUT floor: bench/cases/copy-socket-floor.mjs mounting every blob at once from the repository its own seeding copy filled',
        ],
      ),
    );
  }
  await rm(scratch, { recursive: true, force: true });
  return rows;
}

await runStandalone(import.meta.url, run, 3);
