import type { ImageRunner, ImageRunOptions } from '@pd/image';
import type { RunOptions } from './options.js';
import { run } from './run.js';

// `EditableImage.run(cmd, opts)` of @pd/image lands here: `cmd` replaces the image's Cmd, the
// other options are RunOptions. Unlike `pd run`, the container is removed afterwards unless
// `rm: false` is passed: a library call should not leave containers behind by default.
const runner: ImageRunner = (image, { cmd, ...rest }: ImageRunOptions) =>
  run(image, { rm: true, ...(rest as RunOptions), ...(cmd ? { args: cmd } : {}) }).then((r) => ({ ...r }));

// @pd/image keeps its runner in a global slot under Symbol.for('@pd/image/runner') (its
// runner.ts), so that every copy of @pd/image finds it; setImageRunner does nothing else. The
// runner fills that slot itself: importing @pd/image only to call setImageRunner would load its
// whole graph, registry client included (~200 ms), into every `pd run` process, which never
// needs it for a cached image. test/run.test.ts checks the slot against @pd/image's getImageRunner.
const SLOT = Symbol.for('@pd/image/runner');

/** Register `run` as @pd/image's image runner (what setImageRunner(run) does). */
export function registerImageRunner(): void {
  (globalThis as { [SLOT]?: ImageRunner })[SLOT] = runner;
}
