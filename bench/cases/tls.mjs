#!/usr/bin/env node
// The pull over HTTPS, as from any registry on the internet: the fixture image on a second CNCF
// registry that terminates TLS itself (a certificate openssl made for 127.0.0.1). The loopback
// rows speak plain HTTP, where pd receives blobs on raw sockets; over TLS Node decrypts on the
// main thread and a TLS socket has no `onread`, so this row shows what that costs.
// pd: `pd pull` (a loopback registry: plain HTTP is tried first and refused, then HTTPS, the
// certificate not checked); skopeo: `skopeo copy docker:// oci:` with --src-tls-verify=false.
// Floors: `node -e 0`, a Node TLS socket per blob with sha256 and files (lib/node-fetch-floor.mjs
// --via tls), `curl -k --parallel`. Target: the loopback pull's.
// Standalone: pnpm build && node bench/cases/tls.mjs [iterations]
import { blobUrls, curlFetch, floorsOf, nodeFetchLadder, nodeStart } from '../lib/floors.mjs';
import { alternate } from '../lib/measure.mjs';
import { runnable } from '../lib/pd.mjs';
import { pairResult } from '../lib/result.mjs';
import { ensureTools, runStandalone } from '../lib/setup.mjs';
import { pullSides } from './pull.mjs';

export const CASES = {
  'tls-pull': {
    name: 'pull → OCI layout over HTTPS',
    target: '≤ 0.6× (as over plain HTTP)',
    maxRatio: 0.6,
    jobFloor: 'node TLS socket + sha256 + files',
  },
};

export async function run({ ctx, iterations = 5, warmups = 1 } = {}) {
  const { log } = ctx;
  const { todo, rows } = await runnable(CASES, Object.keys(CASES), () => 'pull');
  if (todo.length === 0) return rows;
  await ensureTools(['skopeo', 'curl'], log);
  const { image, registry, src } = await ctx.tlsSource();
  const scratch = await ctx.scratch('tls');
  const blobs = blobUrls(registry, image);
  const floors = {
    ...nodeStart(),
    ...nodeFetchLadder(scratch, blobs, ['tls']),
    ...curlFetch(scratch, blobs),
  };
  log(`[tls-pull] pd pull vs skopeo copy docker:// oci: from ${registry.url}`);
  const r = await alternate({ ...pullSides(scratch, src, image), ...floors }, { iterations, warmups, log });
  const size = `${(image.layers.reduce((n, l) => n + l.size, 0) / 2 ** 20).toFixed(0)} MiB`;
  rows.push(
    pairResult({
      ...CASES['tls-pull'],
      pd: r.pd,
      peer: { name: 'skopeo copy docker:// oci:', ...r.skopeo },
      pdCommand: 'pd pull REF -o DIR',
      peerCommand: 'skopeo copy --src-tls-verify=false docker://REF oci:DIR:latest',
      floors: floorsOf(r, Object.keys(floors)),
      notes: [
        `image: ${image.layers.length} layers, ${size} compressed, on ${registry.url} (the registry's own TLS)`,
        'pd: empty PD_CACHE_DIR per run; a loopback registry, so plain HTTP is tried (and refused) first',
      ],
    }),
  );
  return rows;
}

await runStandalone(import.meta.url, run, 3);
