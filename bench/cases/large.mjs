#!/usr/bin/env node
// The large-image case (opt-in: `pnpm bench --large`; it takes minutes): an image of ≥ 1 GB with
// a layer of ≥ 500 MB (test-fixtures largeImage, --large-size-mb in --large-layers layers, built
// and pushed by the Docker engine once), on the loopback CNCF registry.
//   pull: `pd pull REF -o DIR` against `skopeo copy docker:// oci:`; target ≥ 2× faster than
//         skopeo and within 1.3× of `curl --parallel` fetching the same layer blobs.
//   push: `pd push LAYOUT REF` against `skopeo copy oci:LAYOUT docker://REF`, from one OCI layout
//         (made by skopeo, outside the timing) into a registry started empty for each run, so
//         every blob is uploaded; floor: curl uploading the same layer files (POST + PUT each).
// Standalone: pnpm build && node bench/cases/large.mjs [iterations]
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  blobUrls,
  curlFetch,
  curlUpload,
  floorsOf,
  nodeFetchLadder,
  nodeSocketUpload,
  nodeStart,
} from '../lib/floors.mjs';
import { alternate } from '../lib/measure.mjs';
import { pdArgv, pdEnv, runnable } from '../lib/pd.mjs';
import { pairResult } from '../lib/result.mjs';
import { ensureTools, runStandalone, SKOPEO_TLS, skopeoOnce } from '../lib/setup.mjs';
import { scratchSide } from '../lib/sides.mjs';
import { pullSides } from './pull.mjs';

export const CASES = {
  'large-pull': {
    name: 'pull → OCI layout, large image',
    target: '≤ 0.5× (≥ 2× faster), ≤ 1.3× curl --parallel',
    maxRatio: 0.5,
    jobFloor: 'node net.Socket + sha256 + files',
  },
  'large-push': {
    name: 'push OCI layout → registry, large image',
    target: '≤ 0.7×',
    maxRatio: 0.7,
    jobFloor: 'node socket PUT + sha256',
  },
};
const MIN_IMAGE = 1e9;
const MIN_LAYER = 500e6;
const MAX_OF_CURL = 1.3;
const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;

/** Every layer of `image` is in `repo` of `registry`. */
async function checkPushed(registry, repo, image) {
  for (const l of image.layers) {
    const res = await fetch(`${registry.url}/v2/${repo}/blobs/${l.digest}`, { method: 'HEAD' });
    if (res.status !== 200) throw new Error(`${repo}: layer ${l.digest} not pushed (HTTP ${res.status})`);
  }
}

export async function run({ ctx, iterations = 5, warmups = 1, only = Object.keys(CASES) } = {}) {
  const { log } = ctx;
  const keys = Object.keys(CASES).filter((k) => only.includes(k));
  const { todo, rows } = await runnable(CASES, keys, (k) => (k === 'large-pull' ? 'pull' : 'push'));
  if (todo.length === 0) return rows;
  await ensureTools(['skopeo', 'curl'], log);
  const { image, registry, src } = await ctx.source(true);
  const scratch = await ctx.scratch('large');
  const total = image.layers.reduce((n, l) => n + l.size, 0);
  const largest = Math.max(...image.layers.map((l) => l.size));
  const sizeChecks = [
    { ok: total >= MIN_IMAGE, note: `image ${mb(total)} compressed (≥ 1 GB)` },
    { ok: largest >= MIN_LAYER, note: `largest layer ${mb(largest)} (≥ 500 MB)` },
  ];
  const notes = [`${image.layers.length} layers: ${image.layers.map((l) => mb(l.size)).join(', ')}`];

  if (todo.includes('large-pull')) {
    const blobs = blobUrls(registry, image);
    const floors = {
      ...nodeStart(),
      ...nodeFetchLadder(scratch, blobs, ['socket', 'files', 'undici']),
      ...curlFetch(scratch, blobs),
      ...curlFetch(scratch, blobs, { ranges: 4 }),
    };
    log(`[large-pull] pd pull vs skopeo copy docker:// oci: (${src}, ${mb(total)})`);
    const r = await alternate({ ...pullSides(scratch, src, image), ...floors }, { iterations, warmups, log });
    const curl = r['curl --parallel'].medianMs;
    const ofCurl = r.pd.medianMs / curl;
    // The job floor against curl too: the curl condition may ask for less than it takes.
    const floorOfCurl = r[CASES['large-pull'].jobFloor].medianMs / curl;
    rows.push(
      pairResult({
        ...CASES['large-pull'],
        pd: r.pd,
        peer: { name: 'skopeo copy docker:// oci:', ...r.skopeo },
        pdCommand: 'pd pull REF -o DIR',
        peerCommand: 'skopeo copy docker://REF oci:DIR:latest',
        checks: [
          {
            ok: ofCurl <= MAX_OF_CURL,
            note: `pd ${ofCurl.toFixed(2)}× curl --parallel (≤ ${MAX_OF_CURL}×; the job floor ${floorOfCurl.toFixed(2)}×)`,
          },
          ...sizeChecks,
        ],
        floors: floorsOf(r, Object.keys(floors)),
        notes: [...notes, 'pd: empty PD_CACHE_DIR per run'],
      }),
    );
  }

  if (todo.includes('large-push')) {
    const layout = await skopeoOnce(src, 'oci', 'large-layout', image.digest, log);
    const files = image.layers.map((l) => ({
      path: join(layout, 'blobs', 'sha256', l.digest.slice('sha256:'.length)),
      digest: l.digest,
    }));
    // A registry started empty for the run (outside the timing), checked and stopped after it.
    const pushSide = (who, argv) =>
      scratchSide(scratch, `push-${who}`, async (dir) => {
        const dest = await ctx.fx.startRegistry();
        const repo = `bench/push-${who}`;
        return {
          ...argv(`${dest.host}/${repo}:latest`, dir),
          cleanup: async () => {
            try {
              await checkPushed(dest, repo, image);
            } finally {
              await dest.stop();
            }
          },
        };
      });
    const fresh = () => ctx.fx.startRegistry();
    const floors = {
      ...nodeStart(),
      ...curlUpload(scratch, files, fresh),
      ...nodeSocketUpload(scratch, files, fresh),
    };
    log(`[large-push] pd push vs skopeo copy oci: docker:// (${mb(total)}, a new registry per run)`);
    const r = await alternate(
      {
        pd: pushSide('pd', (to, dir) => ({
          argv: pdArgv('push', layout, to),
          env: pdEnv(join(dir, 'cache')),
        })),
        skopeo: pushSide('skopeo', (to) => ({
          argv: ['skopeo', 'copy', '-q', ...SKOPEO_TLS, `oci:${layout}:latest`, `docker://${to}`],
        })),
        ...floors,
      },
      { iterations, warmups, log },
    );
    rows.push(
      pairResult({
        ...CASES['large-push'],
        pd: r.pd,
        peer: { name: 'skopeo copy oci: docker://', ...r.skopeo },
        pdCommand: 'pd push LAYOUT REF',
        peerCommand: 'skopeo copy oci:LAYOUT:latest docker://REF',
        checks: sizeChecks,
        floors: floorsOf(r, Object.keys(floors)),
        notes: [
          ...notes,
          'source: one OCI layout made by skopeo; destination: a registry started empty per run',
        ],
      }),
    );
  }
  await rm(scratch, { recursive: true, force: true });
  return rows;
}

await runStandalone(import.meta.url, run, 2);
