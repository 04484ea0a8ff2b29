import { join } from 'node:path';
import {
  dockerMissing,
  largeImage,
  type RunningRegistry,
  registryMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, pd } from './helpers.js';

// pd notes in its cache where it pushed each blob; a copy into a second repository of that
// registry mounts the blobs from the first instead of uploading them (skopeo's blob-info cache
// does the same), and `pd cache prune` forgets the notes.

const missing = dockerMissing() ?? registryMissing();

describe.skipIf(missing)('copies into a registry pd pushed to before', () => {
  let from: RunningRegistry;
  let to: RunningRegistry;
  let ref: string;
  const iso = isolatedEnv();
  const run = (args: string[]) => pd(args, { env: { ...iso.env, PD_CACHE_DIR: join(iso.dir, 'cache') } });
  /** `phase` of each blob's last --verbose line: `layer 2/4: mount (1.50 MB)` → mount. */
  const phases = (stderr: string) =>
    [...stderr.matchAll(/^pd: ((?:layer \d+\/\d+|config)): (\w+)/gm)]
      .filter((m) => m[2] !== 'done')
      .map((m) => m[2]);

  beforeAll(async () => {
    [from, to] = await Promise.all([startRegistry(), startRegistry()]);
    ref = (await largeImage(from, { sizeMB: 6, layers: 3 })).ref;
  }, 900_000);
  afterAll(async () => {
    await Promise.all([from?.stop(), to?.stop()]);
    iso.cleanup();
  });

  it('uploads once, mounts into the next repository, uploads again once prune forgot', async () => {
    const first = await run(['copy', '--verbose', ref, `${to.host}/loc/one:1`]);
    expect(first.code, first.stderr).toBe(0);
    const blobs = phases(first.stderr).length;
    expect(blobs).toBeGreaterThanOrEqual(4); // 4 layers (busybox and 3 data layers) and the config
    expect(new Set(phases(first.stderr))).toEqual(new Set(['upload']));

    const second = await run(['copy', '--verbose', ref, `${to.host}/loc/two:1`]);
    expect(second.code, second.stderr).toBe(0);
    expect(phases(second.stderr)).toEqual(Array.from({ length: blobs }, () => 'mount'));

    const pruned = JSON.parse((await run(['cache', 'prune', '--json'])).stdout);
    expect(pruned.locations).toEqual({ removed: blobs });
    const third = await run(['copy', '--verbose', ref, `${to.host}/loc/three:1`]);
    expect(third.code, third.stderr).toBe(0);
    expect(new Set(phases(third.stderr))).toEqual(new Set(['upload']));
  });
});
