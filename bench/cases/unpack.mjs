#!/usr/bin/env node
// Unpacking on a first run: every layer of the harness's fixture image (--size-mb) written into a
// new directory, pd against GNU tar, in MB/s of layer tar (issue 15: ≥ GNU tar's throughput).
//   gzip layers (as in the registry): `pd export oci:LAYOUT DIR` against `tar -xzf` of each
//     layer blob in turn into one directory; floor: `gzip -dc` of the same blobs to /dev/null
//     (decompression alone, which any unpacker of these layers pays).
//   uncompressed layers: `pd export docker-archive:FILE DIR` against `tar -xf` of the same layer
//     tars (taken out of the archive beforehand).
//   a layer of many small files (as a distribution's are): the layer case's tree (shared
//     libraries, generated source, random data, 20 000 tiny files, links) as one layer of a
//     docker archive, made once by `docker import` and `docker save`; `pd export` against
//     `tar -xf` of that layer, both into tmpfs (/dev/shm): on this VM's disk either took 7-18 s
//     for it, the disk's metadata journal's time rather than theirs.
// `pd export` is the CLI command that unpacks an image's layers in order into a directory (one
// process, as a first `pd run` does). The layout and the archive are made once by skopeo.
// Floors also: `node -e 0`. Every run extracts into a new directory, removed after it.
// Standalone: pnpm build && node bench/cases/unpack.mjs [iterations]
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { floorsOf, nodeStart, startedFloor } from '../lib/floors.mjs';
import { alternate } from '../lib/measure.mjs';
import { pdArgv, pdEnv, runnable } from '../lib/pd.mjs';
import { pairResult } from '../lib/result.mjs';
import { ensureTools, runStandalone, skopeoOnce, WORK } from '../lib/setup.mjs';
import { command, scratchSide } from '../lib/sides.mjs';
import { prepareTree, TREE_STAMP } from './layer.mjs';

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
  tree: {
    name: 'unpack a layer of many small files, first run',
    target: '≥ GNU tar MB/s (≤ 1×)',
    maxRatio: 1,
  },
};
const TREE_HASH = 'openssl sha256 of the layer tar';
const quote = (s) => `'${s.replaceAll("'", "'\\''")}'`;

/** `bytes` of layer tar in `ms`, as MB/s. */
const rate = (bytes, ms) => `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;

/** A run's check: `DIR/out` holds each `[path, size]` of `files`, at that size. */
const sizesCheck = (files) => async (dir) => {
  for (const [path, size] of files) {
    const st = await stat(join(dir, 'out', path)).catch(() => undefined);
    if (st?.size !== size) throw new Error(`${dir}: ${path} missing or of the wrong size`);
  }
};

/** `pd export REF DIR/out` in a new directory under `scratch`, with an empty PD_CACHE_DIR. */
const pdExport = (scratch, ref, check) =>
  scratchSide(
    scratch,
    'pd',
    (dir) => ({ argv: pdArgv('export', ref, join(dir, 'out')), env: pdEnv(join(dir, 'cache')) }),
    check,
  );

/** `tar FLAGS FILE -C DIR/out` for each of `files` in turn, in a new directory under `scratch`. */
const tarEach = (scratch, flags, files, check) =>
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

/**
 * The layer case's tree as one uncompressed layer (GNU tar, names sorted) and that layer in a
 * docker archive made by docker (`import`, `save`), once per build of the tree.
 */
async function treeImage(ctx, log) {
  const tree = await prepareTree(log);
  const layer = join(WORK, 'unpack-tree-layer.tar');
  const archive = join(WORK, 'unpack-tree-image.tar');
  const stamp = `${archive}.json`;
  const built = await readFile(TREE_STAMP, 'utf8').catch(() => '');
  const known = JSON.parse(await readFile(stamp, 'utf8').catch(() => '{}'));
  if (known.tree === built && built !== '' && existsSync(archive)) return { layer, archive, ...known };
  log('[unpack] the layer tree as a docker archive (tar -c, docker import, docker save; once)');
  await execFileP('tar', ['-cf', layer, '--sort=name', '-C', tree, '.']);
  await ctx.docker();
  await ctx.fx.docker(['import', layer, 'pd-bench/unpack-tree:1'], { timeout: 600_000 });
  await ctx.fx.docker(['save', '-o', archive, 'pd-bench/unpack-tree:1'], { timeout: 600_000 });
  const { stdout } = await execFileP('tar', ['-tf', layer], { maxBuffer: 64 << 20 });
  const facts = {
    tree: built,
    entries: stdout.split('\n').filter(Boolean).length,
    bytes: (await stat(layer)).size,
  };
  await writeFile(stamp, JSON.stringify(facts));
  return { layer, archive, ...facts };
}

/** pd export against tar -xf on the tree's layer, into tmpfs. */
async function treeRow(ctx, { iterations, warmups, log }) {
  const { layer, archive, entries, bytes } = await treeImage(ctx, log);
  const shm = existsSync('/dev/shm')
    ? await mkdtemp('/dev/shm/pd-bench-unpack-')
    : await ctx.scratch('unpack-tree');
  // Both sides wrote the tree's big and tiny files.
  const check = sizesCheck([
    ['data/blob3.bin', 10 * 2 ** 20],
    ['etc/d99/f19999.conf', 40],
  ]);
  log(
    `[unpack] pd export vs tar -xf of one layer of ${entries} entries (${(bytes / 1e6).toFixed(0)} MB) into ${shm}`,
  );
  try {
    const r = await alternate(
      {
        'pd tree': pdExport(shm, `docker-archive:${archive}`, check),
        'tar tree': tarEach(shm, '-xf', [layer], check),
        ...nodeStart(),
        [TREE_HASH]: command(['openssl', 'dgst', '-sha256', layer]),
      },
      { iterations, warmups, log },
    );
    return pairResult({
      ...CASES.tree,
      pd: r['pd tree'],
      peer: { name: 'tar -xf', ...r['tar tree'] },
      pdCommand: 'pd export docker-archive:FILE DIR',
      peerCommand: 'tar -xf LAYER -C DIR',
      floors: [
        ...floorsOf(r, ['node -e 0', TREE_HASH]),
        startedFloor(r, TREE_HASH, 'openssl sha256'),
        // Not a floor a Node program cannot pass (entries could be made on several threads), but
        // where pd would be if each entry cost it what it costs GNU tar.
        startedFloor(r, 'tar tree', 'tar -xf'),
      ],
      notes: [
        `pd ${rate(bytes, r['pd tree'].medianMs)}, GNU tar ${rate(bytes, r['tar tree'].medianMs)} (${entries} entries, ${(bytes / 1e6).toFixed(0)} MB of layer tar: the layer case's tree)`,
        "into tmpfs (/dev/shm): on this VM's disk either tool took 7-18 s for it, the metadata journal's time",
        'start-up included on both sides; pd: empty PD_CACHE_DIR per run',
      ],
    });
  } finally {
    await rm(shm, { recursive: true, force: true });
  }
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
  const check = sizesCheck(Object.entries(image.bigFiles).map(([path, f]) => [path, f.size]));
  const scratch = await ctx.scratch('unpack');
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
      'pd gzip': pdExport(scratch, `oci:${layout}:latest`, check),
      'tar gzip': tarEach(scratch, '-xzf', gz, check),
      'pd plain': pdExport(scratch, `docker-archive:${archive}`, check),
      'tar plain': tarEach(scratch, '-xf', plain, check),
      ...floors,
      ...plainFloors,
    },
    { iterations, warmups, log },
  );
  await rm(scratch, { recursive: true, force: true });
  const row = (key, peerName, peerCommand, pdCommand, floors) =>
    pairResult({
      ...CASES[key],
      pd: r[`pd ${key}`],
      peer: { name: peerName, ...r[`tar ${key}`] },
      pdCommand,
      peerCommand,
      floors,
      notes: [
        `pd ${rate(bytes, r[`pd ${key}`].medianMs)}, GNU tar ${rate(bytes, r[`tar ${key}`].medianMs)} (${(bytes / 1e6).toFixed(0)} MB of layer tar, ${image.layers.length} layers)`,
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
    await treeRow(ctx, { iterations, warmups, log }),
  ];
}

await runStandalone(import.meta.url, run, 3);
