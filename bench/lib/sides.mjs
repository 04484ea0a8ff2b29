// Sides for alternate() (lib/measure.mjs): commands with fresh scratch space per run.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** A command with nothing to prepare (start-up floors, `pd version`). */
export function command(argv, env) {
  return { prepare: async () => ({ argv, env }) };
}

/**
 * A side run in its own empty directory `base/label-ROUND`: `job(dir, round)` returns
 * `{ argv, env?, cleanup? }`; after the run `check(dir, result)` verifies the output (and may
 * return extra numbers kept per run), then `cleanup` runs and the directory goes.
 */
export function scratchSide(base, label, job, check) {
  let n = 0;
  return {
    prepare: async (round) => {
      const dir = join(base, `${label.replace(/[^\w.-]+/g, '_')}-${round < 0 ? 'w' : ''}${n++}`);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const { cleanup, ...run } = await job(dir, round);
      return {
        ...run,
        after: async (r) => {
          try {
            return await check?.(dir, r);
          } finally {
            await cleanup?.();
            await rm(dir, { recursive: true, force: true });
          }
        },
      };
    },
  };
}
