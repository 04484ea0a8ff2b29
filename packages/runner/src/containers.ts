import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleLayers, containersDir } from './bundle.js';
import { ContainerNotFoundError } from './errors.js';
import { LayerStore, type PruneOptions } from './layer-store.js';
import type { RootfsMode } from './options.js';
import { defaultCacheDir } from './paths.js';
import { unmountRootfs } from './rootfs.js';
import { deleteContainer, findOciRuntime } from './runtimes/oci.js';

/** A container kept on disk: it ran without `rm`, or is running now. */
export interface ContainerInfo {
  id: string;
  /** Its bundle: config.json, and the writable layer (`upper/`) or copied `rootfs/`. */
  dir: string;
  rootfs: RootfsMode;
  created: string;
}

export async function listContainers(options: { cacheDir?: string } = {}): Promise<ContainerInfo[]> {
  const dir = containersDir(options.cacheDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: ContainerInfo[] = [];
  for (const id of names) {
    try {
      const info = JSON.parse(await readFile(join(dir, id, 'pd-container.json'), 'utf8')) as {
        rootfs: RootfsMode;
        created: string;
      };
      out.push({ id, dir: join(dir, id), rootfs: info.rootfs, created: info.created });
    } catch {
      // a bundle being written or removed right now
    }
  }
  return out;
}

/**
 * Remove a kept container: stop what the runtime may still hold (`delete --force`), unmount a
 * host-mounted rootfs (prepareBundle), delete the bundle with its writable layer.
 */
export async function removeContainer(
  id: string,
  options: { cacheDir?: string; runtime?: string } = {},
): Promise<void> {
  const dir = join(containersDir(options.cacheDir), id);
  let info: { mounted?: boolean };
  try {
    info = JSON.parse(await readFile(join(dir, 'pd-container.json'), 'utf8')) as { mounted?: boolean };
  } catch {
    throw new ContainerNotFoundError(id);
  }
  try {
    await deleteContainer(findOciRuntime(options.runtime), id);
  } catch {
    // no runtime installed: then nothing can be running either
  }
  if (info.mounted) await unmountRootfs(join(dir, 'rootfs'));
  await rm(dir, { recursive: true, force: true });
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
