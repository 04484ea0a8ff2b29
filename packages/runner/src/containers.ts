import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleLayers, containersDir } from './bundle.js';
import { LayerStore, type PruneOptions } from './layer-store.js';
import type { RootfsMode } from './options.js';
import { claimedHere, OWNER_FILE, type Owner, ownedHere, ownerAlive } from './owner.js';
import { defaultCacheDir, privateDir } from './paths.js';
import { unmountRootfs } from './rootfs.js';
import {
  deleteContainer,
  findOciRuntime,
  LIVE_STATUSES,
  listRuntimeContainers,
  type OciRuntime,
  type RuntimeContainer,
} from './runtimes/oci.js';
import { EXIT_FILE, TOMBSTONE } from './supervisor.js';
import { removeTree } from './userns.js';

/**
 * Where a container on disk stands.
 *
 * - `running`: its `pd run` is alive (preparing, running or cleaning up), or the runtime runs it;
 * - `exited`: nothing runs it any more; a kept container (run without `rm`) stays so until removed;
 * - `orphaned`: its `pd run` died (SIGKILL, OOM) and its watchdog did not stop it: the runtime still
 *   runs it, with nobody to stop it. `pd cache prune` kills and removes it.
 */
export type ContainerState = 'running' | 'exited' | 'orphaned';

/** A container kept on disk: it ran without `rm`, or is running now. */
export interface ContainerInfo {
  id: string;
  /** Its bundle: config.json, and the writable layer (`upper/`) or copied `rootfs/`. */
  dir: string;
  rootfs: RootfsMode;
  created: string;
  state: ContainerState;
  /** The process that ran it, when recorded (pd 0.1 did not). */
  owner?: Owner;
  /** Whether it ran with `rm` (it is a leftover of a run that was killed). */
  rm?: boolean;
  /** `--name`, when it was given (the id is then the name). */
  name?: string;
  /** The image as it was given to run (a reference or a file), when it was given as text. */
  image?: string;
  /** The command it runs (entrypoint and arguments). */
  command?: string[];
  /** Started detached (`startContainer`, `pd run -d`): its output is in a log ({@link containerLogs}). */
  detached?: boolean;
  /** How it ended, once it has and its exit was seen (not when its supervisor or pd run was killed). */
  exitCode?: number;
  /** When it ended (ISO 8601), with `exitCode`. */
  finishedAt?: string;
}

/** @internal pd-owner.json. */
export interface OwnerRecord extends Owner {
  rm?: boolean;
  /** The owner is the supervisor of a detached container (supervisor.ts). */
  detached?: boolean;
}

/** @internal pd-container.json. */
export interface BundleInfo {
  rootfs: RootfsMode;
  created: string;
  mounted?: boolean;
  name?: string;
  image?: string;
  command?: string[];
}

/** @internal A bundle directory and what is known of it. */
export interface Bundle {
  id: string;
  dir: string;
  /** pd-container.json: absent while the bundle is being written. */
  info?: BundleInfo;
  owner?: OwnerRecord;
  /** pd-exit.json: how the container ended, written when it did. */
  exit?: { exitCode: number; finishedAt: string };
  /** The runtime's state of it, where a runtime has some. */
  runtime?: { rt: OciRuntime; state: RuntimeContainer };
  state: ContainerState;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function installedRuntimes(): OciRuntime[] {
  const out: OciRuntime[] = [];
  for (const name of ['runc', 'crun']) {
    try {
      out.push(findOciRuntime(name));
    } catch {
      // not installed: it runs nothing
    }
  }
  return out;
}

/** What every installed OCI runtime has state for, by bundle directory. */
async function runtimeStates(): Promise<Map<string, { rt: OciRuntime; state: RuntimeContainer }>> {
  const out = new Map<string, { rt: OciRuntime; state: RuntimeContainer }>();
  await Promise.all(
    installedRuntimes().map(async (rt) => {
      for (const state of await listRuntimeContainers(rt)) out.set(state.bundle, { rt, state });
    }),
  );
  return out;
}

function stateOf(b: Omit<Bundle, 'state'>): ContainerState {
  const live = b.runtime !== undefined && LIVE_STATUSES.has(b.runtime.state.status);
  // Its end was recorded (supervisor.ts, run.ts): the owner may still be finishing, it runs nothing.
  if (b.exit && !live) return 'exited';
  if (b.owner && ownedHere(b.owner)) return claimedHere(b.dir) || live ? 'running' : 'exited';
  if (b.owner) return ownerAlive(b.owner) ? 'running' : live ? 'orphaned' : 'exited';
  // Bundles of pd 0.1 record no owner: only the runtime can tell whether one runs.
  return live ? 'running' : 'exited';
}

/** @internal Every bundle directory with its owner and runtime state; incomplete ones of older pds are left out. */
export async function bundles(cacheDir: string | undefined): Promise<Bundle[]> {
  const dir = containersDir(cacheDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  await privateDir(dir); // a directory an older pd made 0755 is tightened (see paths.ts)
  const runtimes = await runtimeStates();
  const out: Bundle[] = [];
  for (const id of names) {
    if (id.endsWith(TOMBSTONE)) continue;
    const b: Omit<Bundle, 'state'> = { id, dir: join(dir, id) };
    const [info, owner, exit] = await Promise.all([
      readJson<BundleInfo>(join(b.dir, 'pd-container.json')),
      readJson<OwnerRecord>(join(b.dir, OWNER_FILE)),
      readJson<Bundle['exit']>(join(b.dir, EXIT_FILE)),
    ]);
    if (info) b.info = info;
    if (owner) b.owner = owner;
    if (exit) b.exit = exit;
    const runtime = runtimes.get(b.dir);
    if (runtime) b.runtime = runtime;
    // Being written by a pd that records no owner: nothing can be said of it yet.
    if (!info && !owner) continue;
    out.push({ ...b, state: stateOf(b) });
  }
  return out;
}

/**
 * The containers on disk (kept by runs without `rm`, or running now), each with its state.
 * Bundles still being written are left out.
 */
export async function listContainers(options: { cacheDir?: string } = {}): Promise<ContainerInfo[]> {
  const out: ContainerInfo[] = [];
  for (const b of await bundles(options.cacheDir)) {
    // still being written, or its writer died before the end
    if (b.info) out.push(infoOf({ ...b, info: b.info }));
  }
  return out;
}

/** @internal The public view of a bundle that has its pd-container.json. */
export function infoOf(b: Bundle & { info: BundleInfo }): ContainerInfo {
  return {
    id: b.id,
    dir: b.dir,
    rootfs: b.info.rootfs,
    created: b.info.created,
    state: b.state,
    ...(b.owner
      ? { owner: { pid: b.owner.pid, ...(b.owner.start !== undefined ? { start: b.owner.start } : {}) } }
      : {}),
    ...(b.owner?.rm !== undefined ? { rm: b.owner.rm } : {}),
    ...(b.info.name !== undefined ? { name: b.info.name } : {}),
    ...(b.info.image !== undefined ? { image: b.info.image } : {}),
    ...(b.info.command !== undefined ? { command: b.info.command } : {}),
    ...(b.owner?.detached ? { detached: true } : {}),
    ...(b.exit && b.state === 'exited' ? { exitCode: b.exit.exitCode, finishedAt: b.exit.finishedAt } : {}),
  };
}

/** @internal Stop what the runtime still holds of it, unmount a host-mounted rootfs, delete the bundle. */
export async function removeBundle(b: Bundle | Omit<Bundle, 'state'>): Promise<void> {
  if (b.runtime) await deleteContainer(b.runtime.rt, b.id);
  if (b.info?.mounted) await unmountRootfs(join(b.dir, 'rootfs'));
  await removeTree(b.dir);
}

/** What {@link pruneContainers} did (or, with `dryRun`, would do). */
export interface PruneContainersResult {
  /** Ids of the containers removed. */
  removed: string[];
  /** Orphans that were still running, killed (removed too when in `removed`). */
  orphans: string[];
  /** Ids of running containers, left alone. */
  running: string[];
}

/**
 * Remove containers nothing runs any more, never a running one (as `docker container prune`):
 * always the leftovers of `rm` runs that were killed, and with `kept` also the containers kept by
 * runs without `rm`, once exited. Orphans (see ContainerState) are killed in any case: their
 * `pd run` is gone, and nothing else would ever stop them.
 */
export async function pruneContainers(
  options: { cacheDir?: string; kept?: boolean; dryRun?: boolean } = {},
): Promise<PruneContainersResult> {
  const result: PruneContainersResult = { removed: [], orphans: [], running: [] };
  // Exit records of --rm containers (supervisor.ts): only a `waitContainer` running then needs one.
  const dir = containersDir(options.cacheDir);
  if (!options.dryRun)
    for (const name of await readdir(dir).catch(() => [] as string[]))
      if (name.endsWith(TOMBSTONE)) await rm(join(dir, name), { force: true });
  for (const b of await bundles(options.cacheDir)) {
    if (b.state === 'running') {
      result.running.push(b.id);
      continue;
    }
    if (b.state === 'orphaned') {
      // Nobody will ever stop it: killed (and its runtime state removed) even if it is kept.
      if (!options.dryRun && b.runtime) await deleteContainer(b.runtime.rt, b.id);
      result.orphans.push(b.id);
    }
    // A kept container goes only when asked; a bundle whose writer died before finishing it, always.
    const leftover = b.owner?.rm === true || !b.info;
    if (!leftover && !options.kept) continue;
    if (!options.dryRun) await removeBundle(b);
    result.removed.push(b.id);
  }
  return result;
}

/** Prune the layer store, keeping every layer a kept or running container uses. */
export async function pruneLayers(options: PruneOptions & { cacheDir?: string } = {}): Promise<string[]> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const inUse: string[] = [];
  // Every bundle directory, also those still being written (listContainers skips them).
  const dir = containersDir(cacheDir);
  for (const id of await readdir(dir).catch(() => [] as string[]))
    inUse.push(...(await bundleLayers(join(dir, id))));
  return new LayerStore({ cacheDir }).prune({ ...options, inUse });
}
