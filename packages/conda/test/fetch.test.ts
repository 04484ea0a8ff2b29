import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { condaToolsMissing } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchPackages, PackageCache, PackageChecksumError, solve } from '../src/index.js';
import { type Env, fixtureEnv } from './helpers.js';

const missing = condaToolsMissing();

describe.skipIf(missing)('fetchPackages', () => {
  let env: Env;
  beforeAll(async () => {
    env = await fixtureEnv();
  });
  afterAll(async () => env?.cleanup());

  const solved = async (name: string) =>
    (await solve(['a', 'hello'], { channels: [env.http.url], cacheDir: env.cacheDir(name) })).packages;

  it('fetches every package, a few at a time, and answers in input order', async () => {
    const packages = await solved('fetch-order');
    expect(packages.length).toBeGreaterThan(2);
    // Counts the fetches in flight (each held a moment, so they would overlap if allowed to).
    class CountingCache extends PackageCache {
      inFlight = 0;
      most = 0;
      override async fetch(record: (typeof packages)[number], options = {}): Promise<string> {
        this.most = Math.max(this.most, ++this.inFlight);
        try {
          await new Promise((r) => setTimeout(r, 20));
          return await super.fetch(record, options);
        } finally {
          this.inFlight--;
        }
      }
    }
    const cache = new CountingCache(join(env.root, 'pkgs-order'));
    const before = env.http.requests.length;
    const paths = await fetchPackages(packages, { cache, concurrency: 2 });
    expect(cache.most).toBe(2);
    expect(paths.map((p) => basename(p))).toEqual(packages.map((p) => p.filename));
    for (const [i, p] of paths.entries()) {
      expect(readFileSync(p).length).toBe(packages[i]!.size);
    }
    const fetched = env.http.requests.slice(before).filter((r) => /\.(conda|tar\.bz2)$/.test(r.path));
    expect(fetched.length).toBe(packages.length);
    // Cached now: a second call downloads nothing.
    const again = env.http.requests.length;
    expect(await fetchPackages(packages, { cache, concurrency: 2 })).toEqual(paths);
    expect(env.http.requests.length).toBe(again);
  });

  it('fails with the first bad package once the downloads in flight have ended', async () => {
    const packages = await solved('fetch-bad');
    const bad = packages.findIndex((p) => p.name === 'hello');
    const broken = packages.map((p, i) => (i === bad ? { ...p, sha256: '0'.repeat(64) } : p));
    // The good packages start late, so the bad one has failed while they are still on their way.
    class LateCache extends PackageCache {
      override async fetch(record: (typeof broken)[number], options = {}): Promise<string> {
        if (record !== broken[bad]) await new Promise((r) => setTimeout(r, 300));
        return super.fetch(record, options);
      }
    }
    const cache = new LateCache(join(env.root, 'pkgs-bad'));
    await expect(fetchPackages(broken, { cache, concurrency: packages.length })).rejects.toBeInstanceOf(
      PackageChecksumError,
    );
    // All ran at once and were waited for: the good ones are complete in the cache, the bad one
    // is not there at all.
    for (const [i, p] of broken.entries()) expect(existsSync(cache.path(p))).toBe(i !== bad);
  });
});
