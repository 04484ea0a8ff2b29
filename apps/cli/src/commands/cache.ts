import { BlobCache, BlobLocations, defaultCacheDir } from '@pd/image';
import { LayerStore, listContainers, pruneContainers, pruneLayers } from '@pd/runner';
import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
import { formatBytes, formatDuration, shortDigest } from '../output/format.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30m`, `12h`, `7d`, `2w` → milliseconds. */
export function parseDuration(input: string): number {
  const m = /^(\d+)([smhdw])$/.exec(input.trim());
  if (!m) throw new UsageError(`invalid duration "${input}"`, 'write a number and a unit: 30m, 12h, 7d, 2w');
  return Number(m[1]) * UNITS[m[2]!]!;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 };

/** `500MB`, `2G`, `1.5gb`, `1000` → bytes (decimal units, as pd prints them). */
export function parseSize(input: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec(input.trim());
  if (!m) throw new UsageError(`invalid size "${input}"`, 'write a number and a unit: 500MB, 2GB');
  return Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

function ago(d: Date | string): string {
  const ms = Date.now() - new Date(d).getTime();
  return `${formatDuration(Math.max(0, ms) / 1000)} ago`;
}

export const cacheLs = defineCommand({
  name: 'cache ls',
  usage: '',
  description:
    'The cache lives in $PD_CACHE_DIR, else $XDG_CACHE_HOME/pd, else ~/.cache/pd. Blobs are downloaded or\n' +
    'built layers and configs; layers are unpacked for pd run; containers are runs kept without --rm, and\n' +
    'running ones. A container is running (its pd run is alive), exited, or orphaned: its pd run was\n' +
    'killed and the container still runs with nobody to stop it (pd cache prune stops and removes it).',
  args: [],
  options: {},
  json:
    '{ "dir": "/root/.cache/pd",\n' +
    '  "blobs": [{ "digest", "size", "lastUsed" }],\n' +
    '  "layers": [{ "diffId", "bytes", "entries", "unpackedAt" }],\n' +
    '  "containers": [{ "id", "rootfs", "created", "state": "running|exited|orphaned" }] }',
  examples: [
    { note: 'what takes the space', command: 'pd cache ls' },
    { note: 'total bytes of blobs', command: 'pd cache ls --json | jq "[.blobs[].size] | add"' },
  ],
  async run(ctx) {
    const dir = defaultCacheDir(ctx.env);
    const [blobs, layers, containers] = await Promise.all([
      new BlobCache(dir).list(),
      new LayerStore({ cacheDir: dir }).list(),
      listContainers({ cacheDir: dir }),
    ]);
    if (ctx.flags.json) {
      ctx.printJson({
        dir,
        blobs: blobs.map((b) => ({ digest: b.digest, size: b.size, lastUsed: b.lastUsed.toISOString() })),
        layers: layers.map((l) => ({
          diffId: l.diffId,
          bytes: l.meta.bytes,
          entries: l.meta.entries,
          unpackedAt: l.meta.unpackedAt,
        })),
        containers: containers.map((c) => ({
          id: c.id,
          rootfs: c.rootfs,
          created: c.created,
          state: c.state,
        })),
      });
      return 0;
    }
    const total = (xs: number[]) => formatBytes(xs.reduce((a, b) => a + b, 0));
    ctx.print(`cache: ${dir}`);
    ctx.print(`blobs: ${blobs.length} (${total(blobs.map((b) => b.size))})`);
    for (const b of blobs)
      ctx.print(`  ${shortDigest(b.digest)}  ${formatBytes(b.size).padStart(9)}  used ${ago(b.lastUsed)}`);
    ctx.print(`layers: ${layers.length} unpacked (${total(layers.map((l) => l.meta.bytes))})`);
    for (const l of layers) {
      ctx.print(
        `  ${shortDigest(l.diffId)}  ${formatBytes(l.meta.bytes).padStart(9)}  ${l.meta.entries} entries, unpacked ${ago(l.meta.unpackedAt)}`,
      );
    }
    ctx.print(`containers: ${containers.length}`);
    for (const c of containers) ctx.print(`  ${c.id}  ${c.state}  ${c.rootfs}  created ${ago(c.created)}`);
    return 0;
  },
});

export const cachePrune = defineCommand({
  name: 'cache prune',
  usage: '[--older-than 7d] [--keep-size 5GB] [--containers] [--dry-run]',
  description:
    'Without options every blob and every unpacked layer that no kept container uses is removed (they\n' +
    'are downloaded or unpacked again when needed). --older-than spares what was used recently;\n' +
    '--keep-size keeps the most recently used blobs up to that size. --containers also removes the\n' +
    'containers kept by runs without --rm once they have exited (and so frees their layers). A running\n' +
    'container is never touched, nor the layers it uses. Leftovers of pd runs that were killed are always\n' +
    'removed, and a container still running after its pd run was killed (orphaned) is stopped. Notes of\n' +
    'where blobs were pushed (copies mount them from there) go too: all, or those older than AGE.\n' +
    '--dry-run only reports, for blobs.',
  args: [],
  options: {
    'older-than': {
      type: 'string',
      value: 'AGE',
      description: 'only what was not used for AGE (30m, 12h, 7d, 2w)',
    },
    'keep-size': {
      type: 'string',
      value: 'SIZE',
      description: 'keep up to SIZE of the most recently used blobs',
    },
    containers: { type: 'boolean', description: 'remove exited kept containers too (never running ones)' },
    'dry-run': { type: 'boolean', description: 'list the blobs that would go; remove nothing' },
  },
  json:
    '{ "blobs": { "removed": 3, "freed": 123456, "kept": 789 }, "layers": { "removed": 2 },\n' +
    '  "containers": { "removed": 0, "orphans": 0, "running": 1 }, "locations": { "removed": 4 } }\n' +
    'with --dry-run: { "dryRun": true, "blobs": { "wouldRemove": [{ "digest", "size" }], "wouldFree": 123456, "kept": 789 } }',
  examples: [
    { note: 'everything unused', command: 'pd cache prune' },
    { note: 'a weekly CI job', command: 'pd cache prune --older-than 7d --keep-size 10GB' },
  ],
  async run(ctx, { values }) {
    const olderThan = values['older-than'] !== undefined ? parseDuration(values['older-than']) : undefined;
    const keep = values['keep-size'] !== undefined ? parseSize(values['keep-size']) : undefined;
    const dryRun = values['dry-run'] === true;
    if (dryRun && values.containers)
      throw new UsageError('--dry-run reports blobs only; leave out --containers');
    const dir = defaultCacheDir(ctx.env);
    const containers = dryRun
      ? { removed: [], orphans: [], running: [] }
      : await pruneContainers({ cacheDir: dir, kept: values.containers === true });
    const blobs = await new BlobCache(dir).prune({
      // No criterion at all means everything; either criterion alone limits the removal to it.
      olderThan: olderThan ?? (keep === undefined ? 0 : undefined),
      ...(keep !== undefined ? { keep } : {}),
      dryRun,
    });
    const layers = dryRun
      ? []
      : await pruneLayers({ cacheDir: dir, ...(olderThan !== undefined ? { olderThanMs: olderThan } : {}) });
    // Where blobs were pushed: small hints, dropped by age (all without options), never by size.
    const locations =
      dryRun || (olderThan === undefined && keep !== undefined)
        ? 0
        : await new BlobLocations(dir).prune(olderThan ?? 0);
    if (ctx.flags.json && dryRun) {
      // What would go, said as such: nothing was removed.
      ctx.printJson({
        dryRun: true,
        blobs: {
          wouldRemove: blobs.removed.map((b) => ({ digest: b.digest, size: b.size })),
          wouldFree: blobs.freed,
          kept: blobs.kept,
        },
      });
      return 0;
    }
    if (ctx.flags.json) {
      ctx.printJson({
        blobs: { removed: blobs.removed.length, freed: blobs.freed, kept: blobs.kept },
        layers: { removed: layers.length },
        containers: {
          removed: containers.removed.length,
          orphans: containers.orphans.length,
          running: containers.running.length,
        },
        locations: { removed: locations },
      });
      return 0;
    }
    const verb = dryRun ? 'would remove' : 'removed';
    ctx.print(
      `${verb} ${blobs.removed.length} blob(s) (${formatBytes(blobs.freed)}), kept ${formatBytes(blobs.kept)}` +
        (dryRun ? '' : `; removed ${layers.length} unpacked layer(s)`) +
        (containers.removed.length > 0 || values.containers
          ? ` and ${containers.removed.length} container(s)`
          : '') +
        (containers.orphans.length > 0 ? ` (${containers.orphans.length} orphaned, stopped)` : '') +
        (containers.running.length > 0
          ? `; ${containers.running.length} running container(s) left alone`
          : '') +
        (locations > 0 ? `; forgot where ${locations} blob(s) were pushed` : ''),
    );
    if (dryRun) for (const b of blobs.removed) ctx.print(`${b.digest}  ${formatBytes(b.size)}`);
    return 0;
  },
});
