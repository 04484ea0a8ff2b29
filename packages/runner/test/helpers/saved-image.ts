import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest, ImageConfig } from '@pd/oci-types';
import { docker, gnuTar } from '@pd/test-fixtures';
import type { RunnableImage, RunnableLayer } from '../../src/index.js';

// Test-only adapter until @pd/image's readDockerArchive lands: an image as `docker save` writes
// it (unpacked with GNU tar), seen through the runner's image interface. Layers in a docker-save
// archive are plain tars, so digest and diffID are the same.

export interface SavedImage extends RunnableImage {
  /** Directory the archive was unpacked into. */
  dir: string;
  ref: string;
  diffIds: Digest[];
}

const saved = new Map<string, Promise<SavedImage>>();

/** `docker save ref`, unpacked, as a RunnableImage (once per ref per process). */
export function savedImage(ref: string): Promise<SavedImage> {
  let p = saved.get(ref);
  if (!p) {
    p = load(ref);
    saved.set(ref, p);
  }
  return p;
}

async function load(ref: string): Promise<SavedImage> {
  const dir = await mkdtemp(join(tmpdir(), 'pd-saved-'));
  await docker(['save', '-o', join(dir, 'image.tar'), ref]);
  await gnuTar(['-xf', join(dir, 'image.tar'), '-C', dir]);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Array<{
    Config: string;
    Layers: string[];
  }>;
  const entry = manifest[0]!;
  return fromFiles(
    dir,
    ref,
    join(dir, entry.Config),
    entry.Layers.map((l) => join(dir, l)),
  );
}

/** An image from a config file and layer tar files on disk. */
export async function fromFiles(
  dir: string,
  ref: string,
  configPath: string,
  layerPaths: string[],
): Promise<SavedImage> {
  const raw = await readFile(configPath);
  const config = JSON.parse(raw.toString('utf8')) as ImageConfig;
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layerPaths.length)
    throw new Error(`${ref}: ${layerPaths.length} layers, ${diffIds.length} diff_ids`);
  const layers: RunnableLayer[] = layerPaths.map((path, i) => ({
    digest: async () => diffIds[i]!,
    diffId: async () => diffIds[i]!,
    size: async () => (await stat(path)).size,
    mediaType: async () => 'application/vnd.docker.image.rootfs.diff.tar',
    compressed: async () => createReadStream(path),
    uncompressed: async () => createReadStream(path),
  }));
  return {
    dir,
    ref,
    diffIds,
    config: async () => config,
    rawConfig: async () => raw,
    configDigest: async () => `sha256:${createHash('sha256').update(raw).digest('hex')}` as Digest,
    layers: async () => layers,
  };
}
