import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildCondaChannel,
  type CondaChannel,
  condaFixturePackages,
  type ServedCondaChannel,
  serveCondaChannel,
} from '@pd/test-fixtures';

export interface Env {
  root: string;
  channel: CondaChannel;
  http: ServedCondaChannel;
  /** A fresh conda cache root under `root`. */
  cacheDir(name: string): string;
  cleanup(): Promise<void>;
}

/** The fixture channel built once per test file, served over loopback HTTP too. */
export async function fixtureEnv(): Promise<Env> {
  const root = await mkdtemp(join(tmpdir(), 'pd-conda-test-'));
  const channel = await buildCondaChannel(join(root, 'channel'), condaFixturePackages());
  const http = await serveCondaChannel(channel.dir, 'fixture');
  // Layer blobs go to @pd/image's shared cache: keep it inside the test directory.
  process.env.PD_CACHE_DIR = join(root, 'pd-cache');
  return {
    root,
    channel,
    http,
    cacheDir: (name) => join(root, 'caches', name),
    async cleanup() {
      await http.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
