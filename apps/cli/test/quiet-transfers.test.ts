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

// Many transfers at once each listen on the command's abort signal: nothing of that may reach the
// user's terminal as a Node warning (a copy of five layers between two registries printed
// "MaxListenersExceededWarning" before the group signals allowed any number of listeners).

const missing = dockerMissing() ?? registryMissing();

describe.skipIf(missing)('transfers of many layers at once print nothing but their result', () => {
  let from: RunningRegistry;
  let to: RunningRegistry;
  let ref: string;
  const iso = isolatedEnv();

  beforeAll(async () => {
    [from, to] = await Promise.all([startRegistry(), startRegistry()]);
    // Eight layers of 1.5 MiB: above the size piped socket to socket between registries.
    ref = (await largeImage(from, { sizeMB: 12, layers: 8 })).ref;
  }, 900_000);
  afterAll(async () => {
    await Promise.all([from?.stop(), to?.stop()]);
    iso.cleanup();
  });

  it.each([
    ['copy to another registry', () => ['copy', ref, `${to.host}/quiet/copy:1`]],
    ['pull into a docker archive', () => ['pull', ref, '-o', join(iso.dir, 'quiet.tar')]],
    ['pull into an OCI layout', () => ['pull', ref, '-o', join(iso.dir, 'layout')]],
    ['push a layout to another registry', () => ['push', join(iso.dir, 'layout'), `${to.host}/quiet/push:1`]],
  ])('%s', async (_name, args) => {
    const r = await pd(args(), { env: { ...iso.env, PD_CACHE_DIR: join(iso.dir, `cache-${_name.length}`) } });
    expect(r.code, r.stderr).toBe(0);
    // Only pd's own notes (a layout says when a Docker manifest became an OCI one).
    expect(r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('note: '))).toEqual([]);
  });
});
