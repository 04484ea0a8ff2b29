import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { RegistryClient } from '@pd/registry';
import { readEntries } from '@pd/tar';
import {
  dockerMissing,
  type FaultProxy,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  skopeoMissing,
  startFaultProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { BlobCache } from '../src/cache.js';

/** Why the registry-backed tests cannot run here, if they cannot (fixtures need docker + skopeo). */
export const fixturesMissing = (): string | undefined =>
  registryMissing() ?? dockerMissing() ?? skopeoMissing();

export interface Env {
  registry: RunningRegistry;
  /** Counting proxy in front of `registry`; use `proxy.host` as the registry part of references. */
  proxy: FaultProxy;
  fixtures: Fixtures;
  client: RegistryClient;
  cacheDir: string;
  cache: BlobCache;
  /** `fixture.ref` rewritten to go through the proxy. */
  viaProxy(ref: string): string;
  /** Response bytes of blob GETs through the proxy (layers and configs). */
  blobBytes(digests?: readonly string[]): number;
  stop(): Promise<void>;
}

/** A registry with the fixtures pushed, a proxy counting what pd moves, and a private blob cache. */
export async function startEnv(): Promise<Env> {
  const registry = await startRegistry();
  const proxy = await startFaultProxy(registry.url);
  const fixtures = await fixtureImages(registry);
  const cacheDir = mkdtempSync(join(tmpdir(), 'pd-image-cache-'));
  process.env.PD_CACHE_DIR = cacheDir;
  const client = new RegistryClient();
  return {
    registry,
    proxy,
    fixtures,
    client,
    cacheDir,
    cache: new BlobCache(cacheDir),
    viaProxy: (ref) => ref.replace(registry.host, proxy.host),
    blobBytes: (digests) =>
      proxy
        .requests({ method: 'GET', path: '/blobs/' })
        .filter((r) => !digests || digests.some((d) => r.path.endsWith(d)))
        .reduce((n, r) => n + r.responseBytes, 0),
    async stop() {
      await client.close();
      await proxy.stop();
      await registry.stop();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

/** Regular files of an uncompressed tar stream and their content. */
export async function tarFiles(tar: Readable): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const entry of readEntries(tar)) {
    const chunks: Buffer[] = [];
    for await (const c of entry.body) chunks.push(c as Buffer);
    if (entry.header.type === 'file')
      out.set(`/${entry.header.name.replace(/^\.?\//, '')}`, Buffer.concat(chunks).toString());
  }
  return out;
}
