import { registerImageRunner } from './image-hook.js';

export {
  commandLine,
  containersDir,
  type PreparedBundle,
  type PrepareOptions,
  prepareBundle,
} from './bundle.js';
export { CommitError, type CommitOptions, commitChanges, commitContainer } from './commit.js';
export {
  type ContainerInfo,
  type ContainerState,
  listContainers,
  type PruneContainersResult,
  pruneContainers,
  pruneLayers,
} from './containers.js';
export { containerEnv, DEFAULT_PATH, parseEnvFile } from './env.js';
export * from './errors.js';
export { type ExecOptions, execInContainer } from './exec.js';
export {
  type CachedLayer,
  type EnsureOptions,
  type LayerMeta,
  LayerStore,
  type LayerStoreOptions,
  type PruneOptions,
} from './layer-store.js';
export {
  type ContainerOptions,
  inspectContainer,
  killContainer,
  normalizeSignal,
  removeContainer,
  startContainer,
  stopContainer,
  waitContainer,
} from './lifecycle.js';
export { containerLogs, type LogsOptions } from './logs.js';
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
export { run } from './run.js';
export { loadIntoDocker, runtimes } from './runtimes/index.js';
export { type BuildStep, type RunStepOptions, runStep, StepFailedError, type StepResult } from './step.js';
export { type ResolvedUser, resolveUser } from './user.js';
export { type IdMap, type IdRange, type Rootless, rootlessMode } from './userns.js';
export { parseVolume } from './volumes.js';

registerImageRunner();
