import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestOf } from '@pd/oci-types';
import { RegistryClient } from '@pd/registry';
import {
  dockerMissing,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BlobCache, CorruptBlobError } from '../src/cache.js';
import { writeOciArchive, writeOciLayout } from '../src/formats/index.js';
import * as remote from '../src/remote.js';
import { cleanupTempDirs, tempDir } from './formats/helpers.js';

// Bytes at rest rot. A cached blob that no longer matches its digest is fetched again from the
// registry within the same command (one warning), never written into an output, and when the
// registry cannot be reached the error names the blob and where it was cached.

const skip = dockerMissing() ?? registryMissing();

/** Flip one byte in the middle of a file. */
function flipByte(path: string): void {
  const bytes = readFileSync(path);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = bytes[at]! ^ 0xff;
  writeFileSync(path, bytes);
}

describe.skipIf(skip)('a cached blob that rotted', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  let dir: string;
  let client: RegistryClient;

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
    dir = await tempDir();
    client = new RegistryClient({ dockerConfig: false });
  }, 900_000);

  afterAll(async () => {
    await client?.close();
    await registry?.stop();
    await cleanupTempDirs();
  });

  /** A pull as a fresh pd process makes it: a new cache instance, warnings collected. */
  async function pull(cacheDir: string) {
    const warnings: string[] = [];
    const cache = new BlobCache(cacheDir, { onWarning: (m) => warnings.push(m) });
    const image = await remote.image(fx.layered.ref, { client, cache });
    return { cache, image, warnings };
  }

  /** The first pull, its layers brought into the cache (an archive alone fetches them past it). */
  async function pullCached(cacheDir: string) {
    const first = await pull(cacheDir);
    for (const layer of await first.image.layers()) await layer.fetch?.();
    return first;
  }

  test('is fetched again in the same command, with one warning each; the output is whole', async () => {
    const cacheDir = join(dir, 'cache');
    const first = await pullCached(cacheDir);
    const good = join(dir, 'first.tar');
    await writeOciArchive(good, first.image);
    expect(first.warnings).toEqual([]);
    const layers = await first.image.layers();
    const layerDigest = await layers[0]!.digest();
    const configDigest = (await first.image.manifest()).config.digest;
    flipByte(first.cache.path(layerDigest));
    flipByte(first.cache.path(configDigest));

    const again = await pull(cacheDir);
    const out = join(dir, 'again.tar');
    await writeOciArchive(out, again.image);
    expect(readFileSync(out).equals(readFileSync(good))).toBe(true);
    expect(again.warnings).toHaveLength(2);
    expect(again.warnings.join('\n')).toContain(layerDigest);
    expect(again.warnings.join('\n')).toContain(configDigest);
    expect(again.warnings[0]).toMatch(/failed its digest check .*fetching it again/);
    // The cache holds the right bytes again.
    expect(digestOf(readFileSync(again.cache.path(layerDigest)))).toBe(layerDigest);
    expect(digestOf(readFileSync(again.cache.path(configDigest)))).toBe(configDigest);
  });

  test('an OCI layout (which links cached blobs in place) never receives the rotten copy', async () => {
    const cacheDir = join(dir, 'cache-layout');
    const first = await pull(cacheDir);
    await writeOciLayout(join(dir, 'layout-1'), first.image);
    const layerDigest = await (await first.image.layers())[1]!.digest();
    flipByte(first.cache.path(layerDigest));

    const again = await pull(cacheDir);
    const layout = join(dir, 'layout-2');
    await writeOciLayout(layout, again.image);
    const hex = layerDigest.slice('sha256:'.length);
    expect(digestOf(readFileSync(join(layout, 'blobs', 'sha256', hex)))).toBe(layerDigest);
    expect(again.warnings).toHaveLength(1);
  });

  // Last: it stops the registry.
  test('when the registry cannot be reached, the error names the blob and the cache path', async () => {
    const cacheDir = join(dir, 'cache-offline');
    const first = await pullCached(cacheDir);
    await writeOciArchive(join(dir, 'offline-1.tar'), first.image);
    const layerDigest = await (await first.image.layers())[0]!.digest();
    flipByte(first.cache.path(layerDigest));

    const again = await pull(cacheDir); // manifest and config come while the registry runs
    await registry.stop();
    const failed = writeOciArchive(join(dir, 'offline-2.tar'), again.image);
    await expect(failed).rejects.toBeInstanceOf(CorruptBlobError);
    await expect(failed).rejects.toThrow(`cached blob ${layerDigest} at ${again.cache.path(layerDigest)}`);
  });
});
