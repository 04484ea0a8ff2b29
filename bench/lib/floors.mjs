// Floors: what the same job costs at the least, measured in the same alternating rounds as pd and
// its peer, so every ratio stands next to what the machine and Node allow (issue 15).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pdArgv } from './pd.mjs';
import { command, scratchSide } from './sides.mjs';

const FETCH_FLOOR = fileURLToPath(new URL('./node-fetch-floor.mjs', import.meta.url));
const PUSH_FLOOR = fileURLToPath(new URL('../cases/push-socket-floor.mjs', import.meta.url));

/** Blob URLs of an image's layers (config left out: skopeo and pd fetch it too, it is tiny). */
export const blobUrls = (registry, image, layers = image.layers) =>
  layers.map((l) => ({
    url: `${registry.url ?? `http://${registry.host}`}/v2/${image.repository}/blobs/${l.digest}`,
    ...l,
  }));

/** `node -e 0`: Node starting and exiting, the floor of every pd command. */
export const nodeStart = () => ({ 'node -e 0': command([process.execPath, '-e', '0']) });

/** `pd version`: Node plus loading the CLI, no work. */
export const pdVersion = () => ({ 'pd version': command(pdArgv('version')) });

/** The Node ladder of lib/node-fetch-floor.mjs over `blobs`, each rung a process of its own. */
export function nodeFetchLadder(scratch, blobs, vias = ['socket', 'files', 'http', 'undici']) {
  const specs = blobs.map((b) => `${b.url}#${b.digest}`);
  const label = {
    socket: 'node net.Socket',
    files: 'node net.Socket + sha256 + files',
    http: 'node:http + sha256',
    undici: 'node undici + sha256 + files',
    tls: 'node TLS socket + sha256 + files',
  };
  return Object.fromEntries(
    vias.map((via) => [
      label[via],
      scratchSide(scratch, `node-${via}`, (dir) => ({
        argv: [process.execPath, FETCH_FLOOR, '--via', via, dir, ...specs],
      })),
    ]),
  );
}

/**
 * `curl --parallel` fetching `blobs` into files (no hashing, no layout). With `ranges`, each blob
 * of {@link RANGED_FROM} bytes or more is fetched as that many HTTP Range requests at once, one
 * file per part: the parallel ranged download containerd 2.1 does for large layers, as a floor
 * beside the one-request-per-blob fetch.
 */
export function curlFetch(scratch, blobs, { ranges = 1 } = {}) {
  // One transfer per part, each with its own options (`--next` starts the next one: otherwise
  // the last -r given would apply to every URL).
  const parts = (dir, b, i) => {
    // -k: the bench's HTTPS registry has a certificate no one trusts (pd and skopeo skip the check too).
    const tls = b.url.startsWith('https:') ? ['-k'] : [];
    if (ranges < 2 || b.size < RANGED_FROM) return [[...tls, '-o', `${dir}/b${i}`, b.url]];
    const step = Math.ceil(b.size / ranges);
    return Array.from({ length: ranges }, (_, k) => [
      ...tls,
      '-r',
      `${k * step}-${Math.min(b.size, (k + 1) * step) - 1}`,
      '-o',
      `${dir}/b${i}.${k}`,
      b.url,
    ]);
  };
  const transfers = (dir) =>
    blobs.flatMap((b, i) => parts(dir, b, i)).flatMap((t, n) => [...(n > 0 ? ['--next'] : []), '-sfL', ...t]);
  const name = ranges < 2 ? 'curl --parallel' : `curl --parallel, ${ranges} ranges per large blob`;
  return {
    [name]: scratchSide(
      scratch,
      name,
      (dir) => ({
        argv: ['curl', '--parallel', '--parallel-max', String(8 * ranges), ...transfers(dir)],
      }),
      async (dir) => {
        // A registry that ignored Range would send each part the whole blob.
        let got = 0;
        for (const f of await readdir(dir)) got += (await stat(join(dir, f))).size;
        const want = blobs.reduce((n, b) => n + b.size, 0);
        if (got !== want) throw new Error(`${name}: ${got} bytes written, the blobs hold ${want}`);
      },
    ),
  };
}

/** Blobs this large are fetched in ranges by the ranged curl floor. */
export const RANGED_FROM = 64 * 1024 * 1024;

/**
 * curl uploading `files` ({ path, digest }) to a new repository of a registry `fresh()` starts
 * for each run (stopped after it): per blob a POST opening the upload and one PUT of the whole
 * file, all blobs at once. The least an HTTP client does to push those bytes.
 */
export function curlUpload(scratch, files, fresh) {
  return {
    'curl upload (POST + PUT)': scratchSide(scratch, 'curl-up', async () => {
      const registry = await fresh();
      const base = `http://${registry.host}/v2/floor/upload/blobs/uploads/`;
      const one = (f) =>
        `( loc=$(curl -sf -X POST -o /dev/null -w '%header{location}' '${base}') && case "$loc" in http*) ;; *) loc="http://${registry.host}$loc";; esac && curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T '${f.path}' "$loc&digest=${f.digest}" ) & pids="$pids $!"`;
      return {
        argv: ['sh', '-c', `pids=\n${files.map(one).join('\n')}\nfor p in $pids; do wait $p || exit 1; done`],
        cleanup: () => registry.stop(),
      };
    }),
  };
}

/**
 * cases/push-socket-floor.mjs uploading `files` like curlUpload: Node with no HTTP library, each
 * file read into two reused buffers onto a raw socket and hashed on the way, as pd must.
 */
export function nodeSocketUpload(scratch, files, fresh) {
  return {
    'node socket PUT + sha256': scratchSide(scratch, 'node-up', async () => {
      const registry = await fresh();
      return {
        argv: [
          process.execPath,
          PUSH_FLOOR,
          '--hash',
          `${registry.host}/floor/socket`,
          ...files.map((f) => `${f.path}:${f.digest}`),
        ],
        cleanup: () => registry.stop(),
      };
    }),
  };
}

/** `{ name, medianMs }` of the named sides of an alternate() result, for a row's floors. */
export function floorsOf(results, names = Object.keys(results)) {
  return names.filter((n) => results[n]).map((n) => ({ name: n, medianMs: Math.round(results[n].medianMs) }));
}

/** The name of {@link startedFloor}'s floor for a side called `label`. */
export const startedName = (label) => `node -e 0 + ${label} (sum)`;

/**
 * `node -e 0` plus the side `name` (a job run by another tool), as one floor: what a Node program
 * pays before it can do that work, and the work. `label` shortens the side's name in the floor's.
 */
export function startedFloor(results, name, label = name) {
  return {
    name: startedName(label),
    medianMs: Math.round(results['node -e 0'].medianMs + results[name].medianMs),
  };
}
