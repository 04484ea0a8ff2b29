import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  dockerMissing,
  type FaultProxy,
  type FixtureImage,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  startFaultProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectCleanFailure, isolatedEnv, pd, tree } from './support.js';

const missing = registryMissing() ?? dockerMissing();

/**
 * A proxy between pd and the real registry inverts one byte of a blob or a manifest. pd must
 * refuse the content naming what was tampered with, and leave neither an output nor a cache
 * entry behind (a later clean pull with the same cache must give the clean result).
 */
describe.skipIf(missing)('tampered content', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let image: FixtureImage;
  let ref: string;
  let clean: Buffer;
  const iso = isolatedEnv();

  /** A new output directory and an empty cache for one scenario. */
  const fresh = () => {
    const dir = mkdtempSync(join(iso.dir, 'case-'));
    const out = join(dir, 'out');
    const cache = join(dir, 'cache');
    mkdirSync(out);
    const run = (args: string[]) => pd(args, { env: { ...iso.env, PD_CACHE_DIR: cache }, timeout: 60_000 });
    const cachedBlobs = () => {
      const blobs = join(cache, 'blobs', 'sha256');
      return existsSync(blobs) ? readdirSync(blobs).map((h) => `sha256:${h}`) : [];
    };
    const cacheTemps = () => (existsSync(join(cache, 'tmp')) ? readdirSync(join(cache, 'tmp')) : []);
    /** Without the fault, the same cache must give exactly the clean result. */
    const cleanAgain = async () => {
      proxy.clearFaults();
      const again = join(dir, 'again.tar');
      const r = await run(['pull', ref, '-o', again]);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(again).equals(clean)).toBe(true);
    };
    return { out, run, cachedBlobs, cacheTemps, cleanAgain };
  };

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    image = (await fixtureImages(registry)).layered;
    ref = `${proxy.host}/${image.repository}:${image.tag}`;
    // The reference result, through the proxy without faults, into a throwaway cache.
    const r = await pd(['pull', ref, '-o', join(iso.dir, 'clean.tar')], {
      env: { ...iso.env, PD_CACHE_DIR: join(iso.dir, 'clean-cache') },
    });
    expect(r.code, r.stderr).toBe(0);
    clean = readFileSync(join(iso.dir, 'clean.tar'));
  });
  afterEach(() => proxy.clearFaults());
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    iso.cleanup();
  });

  /** The layer in the middle of the image: neither the first nor the last to be fetched. */
  const victim = () => image.layers[2]!.digest;

  const layerCase = async (name: string, ...extra: string[]) => {
    const c = fresh();
    const fault = proxy.inject({ fault: { kind: 'flip-byte' }, method: 'GET', path: victim() });
    const r = await c.run(['pull', ref, '-o', join(c.out, name), ...extra]);
    expect(fault.hits).toBeGreaterThan(0);
    expectCleanFailure(
      r,
      new RegExp(`digest mismatch for blob ${victim().slice(0, 19)}.*expected ${victim()}`),
    );
    expect(c.cachedBlobs()).not.toContain(victim());
    expect(c.cacheTemps()).toEqual([]);
    expect(tree(c.out)).toEqual([]);
    await c.cleanAgain();
  };

  it.each([
    ['a docker archive', 'image.tar'],
    ['an OCI archive', 'oci.tar', '--format', 'oci'],
  ])(
    'a flipped byte in a layer: pull into %s fails naming the blob; nothing is left',
    (_what, name, ...extra) => layerCase(name, ...extra),
  );

  it('a flipped byte in a layer: pull into an OCI layout directory leaves no directory', () =>
    layerCase('layout'));

  it('a flipped byte in the config: pull fails naming the config; nothing is left', async () => {
    const c = fresh();
    const fault = proxy.inject({ fault: { kind: 'flip-byte' }, method: 'GET', path: image.configDigest });
    const r = await c.run(['pull', ref, '-o', join(c.out, 'image.tar')]);
    expect(fault.hits).toBeGreaterThan(0);
    expectCleanFailure(r, new RegExp(`digest mismatch .*${image.configDigest}`));
    expect(tree(c.out)).toEqual([]);
    expect(c.cachedBlobs()).not.toContain(image.configDigest);
    await c.cleanAgain();
  });

  it.each([
    ['by tag', () => ref],
    ['by digest', () => `${proxy.host}/${image.repository}@${image.digest}`],
  ])(
    'a flipped byte in the manifest fetched %s: pull and copy fail naming the manifest',
    async (_how, which) => {
      const c = fresh();
      const fault = proxy.inject({ fault: { kind: 'flip-byte' }, method: 'GET', path: /\/manifests\// });
      const r = await c.run(['pull', which(), '-o', join(c.out, 'image.tar')]);
      expect(fault.hits).toBeGreaterThan(0);
      expectCleanFailure(r, new RegExp(`digest mismatch for manifest .*expected ${image.digest}`));
      const copy = await c.run(['copy', which(), `${proxy.host}/tampered/copy:1`]);
      expectCleanFailure(copy, new RegExp(`digest mismatch for manifest .*expected ${image.digest}`));
      expect(tree(c.out)).toEqual([]);
      // Nothing was pushed under the destination tag.
      const head = await fetch(`${registry.url}/v2/tampered/copy/manifests/1`, { method: 'HEAD' });
      expect(head.status).toBe(404);
      await c.cleanAgain();
    },
  );

  it('pd blob -o with a flipped byte writes no file', async () => {
    const c = fresh();
    proxy.inject({ fault: { kind: 'flip-byte' }, method: 'GET', path: victim() });
    const r = await c.run([
      'blob',
      `${proxy.host}/${image.repository}@${victim()}`,
      '-o',
      join(c.out, 'l.tgz'),
    ]);
    expectCleanFailure(r, new RegExp(`digest mismatch .*${victim()}`));
    expect(tree(c.out)).toEqual([]);
  });
});
