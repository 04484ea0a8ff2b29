import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Image, LayerBuildOptions } from '@pd/image';
import type { History } from '@pd/oci-types';
import { PdError } from '@pd/oci-types';
import { IMAGE_RECORD } from './image-record.js';
import { type ContainerOptions, locate } from './lifecycle.js';
import { defaultCacheDir } from './paths.js';
import { RecordedImage, type RefRecord } from './source.js';
import { rootlessMode, streamInUserNamespace } from './userns.js';

// A container's changes as a new image, as docker commit and buildah commit make it: the
// overlayfs upper directory (what the container wrote, deleted or replaced) becomes one layer on
// top of the image the container ran, whose config is kept.

/** A container that cannot be committed (no overlay upper directory, no image record). */
export class CommitError extends PdError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'COMMIT_FAILED', ...(hint ? { hint } : {}) });
  }
}

/** Options of `commitChanges` and `commitContainer`. */
export interface CommitOptions
  extends Pick<LayerBuildOptions, 'compression' | 'signal' | 'onProgress' | 'cache'> {
  /** Fields of the new layer's history entry (default `created_by: "pd commit"`). */
  history?: History;
  /**
   * Latest file time written into the layer, in seconds (default SOURCE_DATE_EPOCH when set; then
   * also the config's `created`). Without either, files keep their times: a commit is a snapshot.
   */
  clampMtime?: number;
  /** Paths the runtime mounted over; what it created there alone is not a change (see tarOverlayUpper). */
  mountPoints?: readonly string[];
}

/**
 * `base` with one more layer: the overlayfs upper directory `upper` of a container that ran it
 * (new and changed files with owners, modes and xattrs; deletions as whiteouts; recreated
 * directories opaque). The config is `base`'s, with the new layer's diffID and history.
 */
export async function commitChanges(base: Image, upper: string, options: CommitOptions = {}): Promise<Image> {
  // Loaded here: `pd run` of cached layers needs no tar code at all (~25 ms of start-up).
  const [{ appendLayers, buildLayer }, { tarOverlayUpper }] = await Promise.all([
    import('@pd/image'),
    import('@pd/tar'),
  ]);
  // Rootless with subordinate ids, files of other ids than the caller's may be unreadable to it:
  // the tools read them in the user namespace the container's ids live in.
  const rootless = rootlessMode();
  const tar = tarOverlayUpper(upper, {
    ...(rootless?.kind === 'mapped'
      ? { runTool: (argv: string[], input?: string) => streamInUserNamespace(rootless.map, argv, input) }
      : {}),
    ...(options.clampMtime !== undefined ? { clampMtime: options.clampMtime } : {}),
    ...(options.mountPoints ? { mountPoints: options.mountPoints } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const layer = await buildLayer(
    tar,
    {
      compression: options.compression ?? 'gzip',
      ...(options.cache ? { cache: options.cache } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    },
    'commit',
  );
  const created = options.clampMtime;
  return appendLayers(base, [{ layer, history: { created_by: 'pd commit', ...options.history } }], {
    ...(created !== undefined ? { created } : {}),
  });
}

/**
 * A new image of container `ref` (name, id or unique id prefix): its image with its changes on
 * top. A running container is read as it is at this moment; stop it first for a consistent
 * snapshot. Only overlay containers can be committed (`rootfs: 'copy'` keeps no upper layer).
 */
export async function commitContainer(
  ref: string,
  options: CommitOptions & ContainerOptions = {},
): Promise<Image> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const b = await locate(ref, cacheDir);
  if (b.info.rootfs !== 'overlay') {
    throw new CommitError(
      `container ${b.id.slice(0, 12)} has a copied root filesystem: its changes are not kept apart`,
      'run it with the overlay root filesystem (the default as root) to commit it',
    );
  }
  let record: RefRecord;
  try {
    record = JSON.parse(await readFile(join(b.dir, IMAGE_RECORD), 'utf8')) as RefRecord;
  } catch {
    throw new CommitError(
      `container ${b.id.slice(0, 12)} does not record its image (it ran under an older pd)`,
      'run it again with this pd to commit it',
    );
  }
  const spec = JSON.parse(await readFile(join(b.dir, 'config.json'), 'utf8')) as {
    mounts?: { destination: string }[];
  };
  const mountPoints = (spec.mounts ?? []).map((m) => m.destination).filter((d) => d !== '/');
  const { BlobCache } = await import('@pd/image');
  const base = new RecordedImage(record, { cacheDir });
  return commitChanges(base, join(b.dir, 'upper'), {
    cache: new BlobCache(cacheDir),
    mountPoints,
    ...options,
  });
}
