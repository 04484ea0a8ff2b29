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

// An image of many layers moved between two registries: what pd prints while doing it, and what
// it remembers of where it put the blobs.

const missing = dockerMissing() ?? registryMissing();

describe.skipIf(missing)('many layers between two registries', () => {
  let from: RunningRegistry;
  let to: RunningRegistry;
  let ref: string;
  const iso = isolatedEnv();
  /** pd with a cache of the test's own. */
  const run = (cache: string, args: string[]) =>
    pd(args, { env: { ...iso.env, PD_CACHE_DIR: join(iso.dir, `cache-${cache}`) } });

  beforeAll(async () => {
    [from, to] = await Promise.all([startRegistry(), startRegistry()]);
    // Eight layers of 1.5 MiB: above the size piped socket to socket between registries.
    ref = (await largeImage(from, { sizeMB: 12, layers: 8 })).ref;
  }, 900_000);
  afterAll(async () => {
    await Promise.all([from?.stop(), to?.stop()]);
    iso.cleanup();
  });

  // Many transfers at once each listen on the command's abort signal: nothing of that may reach
  // the terminal as a Node warning (a copy of five layers between two registries printed
  // "MaxListenersExceededWarning" before the group signals allowed any number of listeners).
  it.each([
    ['copy to another registry', 'copy', () => ['copy', ref, `${to.host}/quiet/copy:1`]],
    ['pull into a docker archive', 'archive', () => ['pull', ref, '-o', join(iso.dir, 'quiet.tar')]],
    ['pull into an OCI layout', 'layout', () => ['pull', ref, '-o', join(iso.dir, 'layout')]],
    [
      'push a layout to another registry',
      'push',
      () => ['push', join(iso.dir, 'layout'), `${to.host}/quiet/push:1`],
    ],
  ])('%s prints nothing but its result', async (_name, cache, args) => {
    const r = await run(cache, args());
    expect(r.code, r.stderr).toBe(0);
    // Only pd's own notes (a layout says when a Docker manifest became an OCI one).
    expect(r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('note: '))).toEqual([]);
  });

  // pd notes in its cache where it pushed each blob; a copy into a second repository of that
  // registry mounts the blobs from the first instead of uploading them (skopeo's blob-info cache
  // does the same), and `pd cache prune` forgets the notes.
  it('a copy uploads once, mounts into the next repository, uploads again once prune forgot', async () => {
    /** `phase` of each blob's --verbose lines but `done`: `layer 2/9: mount (1.50 MB)` → mount. */
    const phases = (stderr: string) =>
      [...stderr.matchAll(/^pd: ((?:layer \d+\/\d+|config)): (\w+)/gm)]
        .filter((m) => m[2] !== 'done')
        .map((m) => m[2]);
    const first = await run('locations', ['copy', '--verbose', ref, `${to.host}/loc/one:1`]);
    expect(first.code, first.stderr).toBe(0);
    const blobs = phases(first.stderr).length;
    expect(blobs).toBe(10); // busybox, 8 data layers, the config
    expect(new Set(phases(first.stderr))).toEqual(new Set(['upload']));

    const second = await run('locations', ['copy', '--verbose', ref, `${to.host}/loc/two:1`]);
    expect(second.code, second.stderr).toBe(0);
    expect(phases(second.stderr)).toEqual(Array.from({ length: blobs }, () => 'mount'));

    const pruned = JSON.parse((await run('locations', ['cache', 'prune', '--json'])).stdout);
    expect(pruned.locations).toEqual({ removed: blobs });
    const third = await run('locations', ['copy', '--verbose', ref, `${to.host}/loc/three:1`]);
    expect(third.code, third.stderr).toBe(0);
    expect(new Set(phases(third.stderr))).toEqual(new Set(['upload']));
  });
});
