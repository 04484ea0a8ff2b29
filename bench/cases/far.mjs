#!/usr/bin/env node
// The pull and the copy within one registry again, with the registry 40 ms away: every byte and
// every connection goes through lib/delay-proxy.mjs (20 ms each way, a new connection's handshake
// one round trip more). On loopback a round trip is ~0.1 ms, so needless ones (a connection
// opened where one was free, a request waiting for an answer it does not need) cost nothing
// there; here each costs 40 ms, as between a laptop and a registry. The targets are the
// loopback rows' (the issue sets them for the job, not for a network).
// Pull: `pd pull` against `skopeo copy docker:// oci:`; floors: `curl --parallel` fetching the
// layer blobs through the same proxy, and the same after a curl of the manifest (what a client
// that learns the blobs from the manifest cannot skip: its round trips come first), summed with
// `node -e 0` for a Node program. Copy: `pd copy` against `skopeo copy docker:// docker://`
// into a new repository; skopeo's blob-info cache is taught the proxied source once before the
// rounds (an untimed copy), so both mount; pd mounts from the source repository it reads.
// Standalone: pnpm build && node bench/cases/far.mjs [iterations]
import { join } from 'node:path';
import { startDelayProxy } from '../lib/delay-proxy.mjs';
import { blobUrls, curlFetch, floorsOf, nodeStart, startedFloor, startedName } from '../lib/floors.mjs';
import { alternate, spawnCollect } from '../lib/measure.mjs';
import { runnable } from '../lib/pd.mjs';
import { pairResult } from '../lib/result.mjs';
import { ensureTools, runStandalone, SKOPEO_TLS } from '../lib/setup.mjs';
import { copySides } from './copy.mjs';
import { pullSides } from './pull.mjs';

const DELAY_MS = 20;
const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
].join(', ');
const AFTER_MANIFEST = 'curl: the manifest, then the blobs';
const JOB_FLOOR = startedName(AFTER_MANIFEST);

/** `side` (a curl fetching blobs) run after a curl of the manifest at `url`, in one process tree. */
function afterManifest(side, url) {
  return {
    prepare: async (round) => {
      const job = await side.prepare(round);
      const script = 'curl -sf -H "$1" -o /dev/null "$2" && shift 2 && exec "$@"';
      return { ...job, argv: ['sh', '-c', script, 'sh', `Accept: ${MANIFEST_ACCEPT}`, url, ...job.argv] };
    },
  };
}
export const CASES = {
  'far-pull': {
    name: 'pull → OCI layout, registry 40 ms away',
    target: '≤ 0.6× (as on loopback)',
    maxRatio: 0.6,
    jobFloor: JOB_FLOOR,
  },
  'far-copy': {
    name: 'registry → registry copy, same registry 40 ms away',
    target: '≤ 2× (as on loopback)',
    maxRatio: 2,
  },
};

export async function run({ ctx, iterations = 5, warmups = 1, only = Object.keys(CASES) } = {}) {
  const { log } = ctx;
  const { todo: wanted, rows } = await runnable(
    CASES,
    Object.keys(CASES).filter((k) => only.includes(k)),
    (k) => (k === 'far-pull' ? 'pull' : 'copy'),
  );
  if (wanted.length === 0) return rows;
  await ensureTools(['skopeo', 'curl'], log);
  const { image, registry, src: direct } = await ctx.source();
  const proxy = await startDelayProxy(registry.host, DELAY_MS);
  try {
    const src = direct.replace(registry.host, proxy.host);
    const scratch = await ctx.scratch('far');
    const size = `${(image.layers.reduce((n, l) => n + l.size, 0) / 2 ** 20).toFixed(0)} MiB`;
    const notes = [
      `image: ${image.layers.length} layers, ${size} compressed`,
      `every request through lib/delay-proxy.mjs: ${DELAY_MS} ms each way, a new connection one round trip more`,
      'pd: empty PD_CACHE_DIR per run',
    ];
    const measured = async (key, sides, floors, peer, commands, more = [], sums = () => []) => {
      const r = await alternate({ ...sides, ...floors }, { iterations, warmups, log });
      rows.push(
        pairResult({
          ...CASES[key],
          pd: r.pd,
          peer: { name: peer, ...r.skopeo },
          ...commands,
          floors: [...floorsOf(r, Object.keys(floors)), ...sums(r)],
          notes: [...notes, ...more],
        }),
      );
    };
    if (wanted.includes('far-pull')) {
      log(
        `[far] pd pull vs skopeo copy docker:// oci: through ${proxy.host} (${2 * DELAY_MS} ms round trip)`,
      );
      const blobs = blobUrls({ host: proxy.host }, image);
      const manifest = `http://${proxy.host}/v2/${image.repository}/manifests/${image.tag}`;
      const curl = curlFetch(scratch, blobs);
      const ordered = curlFetch(join(scratch, 'after-manifest'), blobs)['curl --parallel'];
      await measured(
        'far-pull',
        pullSides(scratch, src, image),
        { ...nodeStart(), ...curl, [AFTER_MANIFEST]: afterManifest(ordered, manifest) },
        'skopeo copy docker:// oci:',
        { pdCommand: 'pd pull REF -o DIR', peerCommand: 'skopeo copy docker://REF oci:DIR:latest' },
        [],
        (r) => [startedFloor(r, AFTER_MANIFEST)],
      );
    }
    if (wanted.includes('far-copy')) {
      log(`[far] pd copy vs skopeo copy within ${proxy.host} (${2 * DELAY_MS} ms round trip)`);
      // skopeo mounts only blobs its blob-info cache places in the source repository.
      const seed = `docker://${proxy.host}/bench/far-seed-${process.pid}:latest`;
      // Not spawnSync: the proxy runs in this process and must keep forwarding meanwhile.
      const taught = await spawnCollect('skopeo', ['copy', '-q', ...SKOPEO_TLS, `docker://${src}`, seed], {
        timeoutMs: 300_000,
      });
      if (taught.code !== 0) throw new Error(`skopeo copy ${src} ${seed}: ${taught.stderr}`);
      const dest = async () => ({ registry: { host: proxy.host, url: registry.url } });
      await measured(
        'far-copy',
        copySides(scratch, src, image, dest),
        nodeStart(),
        'skopeo copy docker:// docker://',
        { pdCommand: 'pd copy SRC DST', peerCommand: 'skopeo copy docker://SRC docker://DST' },
        ['both mount the blobs (skopeo from its blob-info cache, taught once)'],
      );
    }
    return rows;
  } finally {
    await proxy.stop();
  }
}

await runStandalone(import.meta.url, run, 3);
