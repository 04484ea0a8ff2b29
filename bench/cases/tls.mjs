#!/usr/bin/env node
// The pull and the copy over HTTPS, as from any registry on the internet: the fixture image on a
// second CNCF registry that terminates TLS itself (a certificate openssl made for 127.0.0.1). The
// loopback rows speak plain HTTP, where pd receives blobs on raw sockets; over TLS Node decrypts
// (and encrypts) on the main thread and a TLS socket has no `onread`, so these rows show what
// that costs.
// tls-pull: `pd pull` (a loopback registry: plain HTTP is tried first and refused, then HTTPS,
// the certificate not checked) against `skopeo copy docker:// oci:` with --src-tls-verify=false.
// Floors: `node -e 0`, a Node TLS socket per blob with sha256 and files (lib/node-fetch-floor.mjs
// --via tls), `curl -k --parallel`. Target: the loopback pull's.
// tls-copy: `pd copy` to a new HTTPS registry per run (the same certificate), against `skopeo
// copy docker:// docker://`. Floors: `node -e 0`, `pd version`, cases/copy-socket-floor.mjs
// --tls (every blob's GET and PUT on TLS sockets at once, hashed). Target: the plain copy's.
// Standalone: pnpm build && node bench/cases/tls.mjs [iterations]
import { rm } from 'node:fs/promises';
import { blobUrls, curlFetch, floorsOf, nodeFetchLadder, nodeStart, pdVersion } from '../lib/floors.mjs';
import { alternate } from '../lib/measure.mjs';
import { runnable } from '../lib/pd.mjs';
import { pairResult } from '../lib/result.mjs';
import { ensureTools, runStandalone } from '../lib/setup.mjs';
import { copySides, FLOOR_NAMES } from './copy.mjs';
import { pullSides } from './pull.mjs';

export const CASES = {
  'tls-pull': {
    name: 'pull → OCI layout over HTTPS',
    target: '≤ 0.6× (as over plain HTTP)',
    maxRatio: 0.6,
    jobFloor: 'node TLS socket + sha256 + files',
  },
  'tls-copy': {
    name: 'registry → registry copy, two HTTPS registries',
    target: '≤ 0.7× (as over plain HTTP)',
    maxRatio: 0.7,
    jobFloor: FLOOR_NAMES.tls,
  },
};

export async function run({ ctx, iterations = 5, warmups = 1, only = Object.keys(CASES) } = {}) {
  const { log } = ctx;
  const { todo, rows } = await runnable(
    CASES,
    Object.keys(CASES).filter((k) => only.includes(k)),
    (key) => (key === 'tls-pull' ? 'pull' : 'copy'),
  );
  if (todo.length === 0) return rows;
  await ensureTools(['skopeo', 'curl'], log);
  const { image, registry, src, tls } = await ctx.tlsSource();
  const scratch = await ctx.scratch('tls');
  const size = `${(image.layers.reduce((n, l) => n + l.size, 0) / 2 ** 20).toFixed(0)} MiB`;
  const onTls = `image: ${image.layers.length} layers, ${size} compressed, on ${registry.url} (the registry's own TLS)`;
  if (todo.includes('tls-pull')) {
    const blobs = blobUrls(registry, image);
    const floors = {
      ...nodeStart(),
      ...nodeFetchLadder(scratch, blobs, ['tls']),
      ...curlFetch(scratch, blobs),
    };
    log(`[tls-pull] pd pull vs skopeo copy docker:// oci: from ${registry.url}`);
    const r = await alternate({ ...pullSides(scratch, src, image), ...floors }, { iterations, warmups, log });
    rows.push(
      pairResult({
        ...CASES['tls-pull'],
        pd: r.pd,
        peer: { name: 'skopeo copy docker:// oci:', ...r.skopeo },
        pdCommand: 'pd pull REF -o DIR',
        peerCommand: 'skopeo copy --src-tls-verify=false docker://REF oci:DIR:latest',
        floors: floorsOf(r, Object.keys(floors)),
        notes: [
          onTls,
          'pd: empty PD_CACHE_DIR per run; a loopback registry, so plain HTTP is tried (and refused) first',
        ],
      }),
    );
  }
  if (todo.includes('tls-copy')) {
    log(`[tls-copy] pd copy vs skopeo copy from ${registry.url} to a new HTTPS registry per run`);
    const fresh = async () => {
      const d = await ctx.fx.startRegistry({ tls });
      return { registry: d, stop: () => d.stop() };
    };
    const floors = { ...nodeStart(), ...pdVersion() };
    const r = await alternate(
      { ...copySides(scratch, src, image, fresh, { floor: 'tls' }), ...floors },
      { iterations, warmups, log },
    );
    rows.push(
      pairResult({
        ...CASES['tls-copy'],
        pd: r.pd,
        peer: { name: 'skopeo copy docker:// docker://', ...r.skopeo },
        pdCommand: 'pd copy SRC DST',
        peerCommand: 'skopeo copy --src-tls-verify=false --dest-tls-verify=false docker://SRC docker://DST',
        floors: floorsOf(r, [...Object.keys(floors), FLOOR_NAMES.tls]),
        notes: [
          onTls,
          'destination: a registry serving HTTPS (the same certificate) started empty for each run (outside the timing); every blob is downloaded and uploaded',
          'node TLS-socket copy floor: bench/cases/copy-socket-floor.mjs --tls, every blob GET and PUT on TLS sockets at once, hashed, no HTTP library, no retries',
          'pd: empty PD_CACHE_DIR per run; loopback registries, so plain HTTP is tried (and refused) first at each',
        ],
      }),
    );
  }
  await rm(scratch, { recursive: true, force: true });
  return rows;
}

await runStandalone(import.meta.url, run, 3);
