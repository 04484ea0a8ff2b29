import { type ImageRunOptions, setImageRunner } from '@pd/image';
import type { RunOptions } from './options.js';
import { run } from './run.js';

export {
  commandLine,
  containersDir,
  type PreparedBundle,
  type PrepareOptions,
  prepareBundle,
} from './bundle.js';
export { type ContainerInfo, listContainers, pruneLayers, removeContainer } from './containers.js';
export { containerEnv, DEFAULT_PATH, parseEnvFile } from './env.js';
export * from './errors.js';
export {
  type CachedLayer,
  type EnsureOptions,
  type LayerMeta,
  LayerStore,
  type LayerStoreOptions,
  type PruneOptions,
} from './layer-store.js';
export type {
  ProgressEvent,
  PullPolicy,
  RootfsMode,
  RunnerEvent,
  RunOptions,
  RunResult,
  RuntimeName,
  VolumeSpec,
} from './options.js';
export { defaultCacheDir } from './paths.js';
export { runtimes } from './runtimes/index.js';
export { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from './spec.js';
export { parseGroup, parsePasswd, type ResolvedUser, resolveUser } from './user.js';
export { parseVolume } from './volumes.js';
export { run };

// `EditableImage.run(cmd, opts)` of @pd/image lands here: `cmd` replaces the image's Cmd, the
// other options are RunOptions. Unlike `pd run`, the container is removed afterwards unless
// `rm: false` is passed: a library call should not leave containers behind by default.
setImageRunner((image, { cmd, ...rest }: ImageRunOptions) =>
  run(image, { rm: true, ...(rest as RunOptions), ...(cmd ? { args: cmd } : {}) }).then((r) => ({ ...r })),
);
