import { RunnerMissingError } from './errors.js';
import type { Image } from './model.js';

/** What `EditableImage.run` hands the runner; runner-specific options pass through untouched. */
export interface ImageRunOptions {
  /** Arguments replacing the image's Cmd (its Entrypoint still applies, as with `docker run`). */
  cmd?: string[];
  /** Aborts the run. */
  signal?: AbortSignal;
  [option: string]: unknown;
}

/** What a runner returns; runner-specific fields pass through. */
export interface ImageRunResult {
  /** The container process's exit code. */
  exitCode: number;
  [field: string]: unknown;
}

/** Runs an image; `@pd/runner` registers one when it is imported. */
export type ImageRunner = (image: Image, options: ImageRunOptions) => Promise<ImageRunResult>;

// On globalThis under a registered symbol: a runner imported through another copy of this
// package (source vs dist, two installs) still reaches the copy the user's image came from.
const KEY = Symbol.for('@pd/image/runner');
type Holder = { [KEY]?: ImageRunner | undefined };

/** Register (or with undefined, remove) the function that runs images. Image never imports runner. */
export function setImageRunner(runner: ImageRunner | undefined): void {
  (globalThis as Holder)[KEY] = runner;
}

/** The registered runner, or undefined when none is (no `@pd/runner` imported). */
export function getImageRunner(): ImageRunner | undefined {
  return (globalThis as Holder)[KEY];
}

/** Run through the registered runner; throws `RunnerMissingError` when there is none. */
export async function runImage(image: Image, options: ImageRunOptions): Promise<ImageRunResult> {
  const runner = getImageRunner();
  if (!runner) throw new RunnerMissingError();
  return runner(image, options);
}
