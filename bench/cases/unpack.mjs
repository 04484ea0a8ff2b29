#!/usr/bin/env node
// Unpacking on a first run: every layer of the harness's fixture image (--size-mb) written into a
// new directory, pd against GNU tar, in MB/s of layer tar (issue 15: ≥ GNU tar's throughput).
//   gzip layers (as in the registry): `pd export oci:LAYOUT DIR` against `tar -xzf` of each
//     layer blob in turn into one directory; floor: `gzip -dc` of the same blobs to /dev/null
//     (decompression alone, which any unpacker of these layers pays).
//   uncompressed layers: `pd export docker-archive:FILE DIR` against `tar -xf` of the same layer
//     tars (taken out of the archive beforehand).
// `pd export` is the CLI command that unpacks an image's layers in order into a directory (one
// process, as a first `pd run` does). The layout and the archive are made once by skopeo.
// Floors also: `node -e 0`. Every run extracts into a new directory, removed after it.
// Standalone: pnpm build && node bench/cases/unpack.mjs [iterations]
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { floorsOf, nodeStart, startedFloor } from '../lib/floors.mjs';
import { alternate } from '../lib/measure.mjs';
import { pdArgv, pdEnv, runnable } from '../lib/pd.mjs';
import { pairResult } from '../lib/result.mjs';
import { ensureTools, runStandalone, skopeoOnce } from '../lib/setup.mjs';
import { command, scratchSide } from '../lib/sides.mjs';

const execFileP = promisify(execFile);
const JOB_FLOOR = fileURLToPath(new URL('./unpack-job-floor.mjs', import.meta.url));
const JOB_FLOOR_NAME = 'node: read + sha256 + write of the layer tars';
const CASES = {
  gzip: { name: 'unpack layers, first run (gzip layers)', target: '≥ GNU tar MB/s (≤ 1×)', maxRatio: 1 },
  plain: {
    name: 'unpack layers, first run (uncompressed)',
    target: '≥ GNU tar MB/s (≤ 1×)',
    maxRatio: 1,
    jobFloor: JOB_FLOOR_NAME,
  },
};
const quote = (s) => `'${s.replaceAll("'", "'\\''")}'`;

/** The uncompressed layer tars of a docker archive, taken out once next to it. */
async function archiveLayers(archive) {
  const dir = `${archive}.layers`;
  if (!existsSync(join(dir, 'manifest.json'))) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await execFileP('tar', ['-xf', archive, '-C', dir]);
  }
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  return manifest[0].Layers.map((l) => join(dir, l));
}

export async function run({ ctx, iterations = 5, warmups = 1 } = {}) {
  const { log } = ctx;
  const { todo, rows } = await runnable(CASES, Object.keys(CASES), () => 'export');
  if (todo.length === 0) return rows;
  await ensureTools(['skopeo', 'openssl'], log);
  const { image, src } = await ctx.source();
  const layout = await skopeoOnce(src, 'oci', 'unpack-layout', image.digest, log);
  const archive = await skopeoOnce(src, 'docker-archive', 'unpack-image.tar', image.digest, log);
  const gz = image.layers.map((l) => join(layout, 'blobs', 'sha256', l.digest.slice('sha256:'.length)));
  const plain = await archiveLayers(archive);
  let bytes = 0;
  for (const p of plain) bytes += (await stat(p)).size;

  // Both sides must have written every data file of the fixture, at its size.
  const check = async (dir) => {
    for (const [path, f] of Object.entries(image.bigFiles)) {
      const st = await stat(join(dir, 'out', path)).catch(() => undefined);
      if (st?.size !== f.size) throw new Error(`${dir}: ${path} missing or of the wrong size`);
    }
  };
  const scratch = await ctx.scratch('unpack');
  const pdExport = (ref) =>
    scratchSide(
      scratch,
      'pd',
      (dir) => ({ argv: pdArgv('export', ref, join(dir, 'out')), env: pdEnv(join(dir, 'cache')) }),
      check,
    );
  const tarEach = (flags, files) =>
    scratchSide(
      scratch,
      'tar',
      (dir) => ({
        argv: [
          'sh',
          '-c',
          `mkdir ${quote(join(dir, 'out'))} && ${files.map((f) => `tar ${flags} ${quote(f)} -C ${quote(join(dir, 'out'))}`).join(' && ')}`,
        ],
      }),
      check,
    );
  const floors = {
    ...nodeStart(),
    'gzip -dc > /dev/null': command(['sh', '-c', `gzip -dc ${gz.map(quote).join(' ')} > /dev/null`]),
  };
  // What an unpacker that checks the diffIDs (docker load, containerd, umoci, pd) pays beyond
  // GNU tar, which checks nothing: hashing every byte of layer tar once. OpenSSL's sha256 uses the
  // CPU's SHA instructions, as Node's does; coreutils' sha256sum does not, and takes 2-3× longer.
  const plainFloors = {
    'openssl sha256 of the layer tars': command(['openssl', 'dgst', '-sha256', ...plain]),
    // The same hashing in Node, with the reads and the writes of every byte (no tar parsed, no
    // entries made): the part of pd's job that no unpacker in Node can skip.
    [JOB_FLOOR_NAME]: scratchSide(scratch, 'floor', (dir) => ({
      argv: [process.execPath, JOB_FLOOR, dir, ...plain],
    })),
  };
  log(
    `[unpack] pd export vs tar -x of ${image.layers.length} layers (${(bytes / 1e6).toFixed(0)} MB of tar)`,
  );
  const r = await alternate(
    {
      'pd gzip': pdExport(`oci:${layout}:latest`),
      'tar gzip': tarEach('-xzf', gz),
      'pd plain': pdExport(`docker-archive:${archive}`),
      'tar plain': tarEach('-xf', plain),
      ...floors,
      ...plainFloors,
    },
    { iterations, warmups, log },
  );
  await rm(scratch, { recursive: true, force: true });
  const rate = (ms) => `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
  const row = (key, peerName, peerCommand, pdCommand, floors) =>
    pairResult({
      ...CASES[key],
      pd: r[`pd ${key}`],
      peer: { name: peerName, ...r[`tar ${key}`] },
      pdCommand,
      peerCommand,
      floors,
      notes: [
        `pd ${rate(r[`pd ${key}`].medianMs)}, GNU tar ${rate(r[`tar ${key}`].medianMs)} (${(bytes / 1e6).toFixed(0)} MB of layer tar, ${image.layers.length} layers)`,
        'start-up included on both sides; pd: empty PD_CACHE_DIR per run',
      ],
    });
  return [
    row(
      'gzip',
      'tar -xzf, each layer',
      'tar -xzf LAYER -C DIR (each in turn)',
      'pd export oci:LAYOUT DIR',
      floorsOf(r, Object.keys(floors)),
    ),
    row(
      'plain',
      'tar -xf, each layer',
      'tar -xf LAYER -C DIR (each in turn)',
      'pd export docker-archive:FILE DIR',
      [
        ...floorsOf(r, ['node -e 0', ...Object.keys(plainFloors)]),
        startedFloor(r, 'openssl sha256 of the layer tars', 'openssl sha256'),
      ],
    ),
  ];
}

await runStandalone(import.meta.url, run, 3);
