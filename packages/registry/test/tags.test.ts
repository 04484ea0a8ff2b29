import { digestOf, MediaType } from '@pd/oci-types';
import {
  type FaultProxy,
  type RunningRegistry,
  registryMissing,
  startFaultProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RegistryClient, referrersTag } from '../src/index.js';
import { sourceOf } from './helpers.js';

const EMPTY = Buffer.from('{}');

function manifest(extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciEmpty, digest: digestOf(EMPTY), size: EMPTY.length },
      layers: [],
      ...extra,
    }),
  );
}

describe.skipIf(registryMissing())('tags, catalog and referrers against the real registry', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  const client = new RegistryClient({ dockerConfig: false });
  const repo = (name: string) => ({ registry: proxy.host, repository: name });

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    for (let i = 0; i < 12; i++) {
      const r = repo(`pd/cat-${String(i).padStart(2, '0')}`);
      await client.uploadBlob(r, sourceOf(EMPTY), { digest: digestOf(EMPTY), size: 2 });
      await client.putManifest({ ...r, tag: 'v1' }, manifest(), MediaType.OciManifest);
    }
    const bytes = manifest();
    for (let i = 0; i < 25; i++) {
      await client.putManifest(
        { ...repo('pd/cat-00'), tag: `t${String(i).padStart(2, '0')}` },
        bytes,
        MediaType.OciManifest,
      );
    }
  });
  afterAll(async () => {
    await client.close();
    await proxy?.stop();
    await registry?.stop();
  });

  test('tags: all of them, asked for in pages (distribution 2.8 ignores n here and sends them at once)', async () => {
    proxy.resetStats();
    const tags = await client.listTags(repo('pd/cat-00'), { pageSize: 10 });
    expect(tags).toHaveLength(26);
    expect(new Set(tags)).toEqual(
      new Set(['v1', ...Array.from({ length: 25 }, (_, i) => `t${String(i).padStart(2, '0')}`)]),
    );
    expect(proxy.requests({ path: '/tags/list' }).map((p) => p.url)).toEqual([
      '/v2/pd/cat-00/tags/list?n=10',
    ]);
  });

  test('the catalog comes in pages linked by Link: rel="next"', async () => {
    proxy.resetStats();
    const repos = await client.catalog(proxy.host, { pageSize: 5 });
    expect(repos).toEqual(Array.from({ length: 12 }, (_, i) => `pd/cat-${String(i).padStart(2, '0')}`));
    expect(proxy.requests({ path: '/_catalog' }).map((p) => decodeURIComponent(p.url))).toEqual([
      '/v2/_catalog?n=5',
      '/v2/_catalog?last=pd/cat-04&n=5',
      '/v2/_catalog?last=pd/cat-09&n=5',
    ]);
  });

  test('referrers: the API answers 404 here, so the sha256-<hex> tag index is read', async () => {
    const r = repo('pd/cat-01');
    const subject = await client.putManifest(
      { ...r, tag: 'subject' },
      manifest({ annotations: { s: '1' } }),
      MediaType.OciManifest,
    );
    const subjectSize = manifest({ annotations: { s: '1' } }).length;
    const artifact = manifest({
      artifactType: 'application/vnd.pd.test.sbom',
      subject: { mediaType: MediaType.OciManifest, digest: subject, size: subjectSize },
    });
    const artifactDigest = await client.putManifest(
      { ...r, digest: digestOf(artifact) },
      artifact,
      MediaType.OciManifest,
    );
    const descriptor = {
      mediaType: MediaType.OciManifest,
      digest: artifactDigest,
      size: artifact.length,
      artifactType: 'application/vnd.pd.test.sbom',
    };
    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [descriptor] }),
    );
    await client.putManifest({ ...r, tag: referrersTag(subject) }, index, MediaType.OciIndex);

    proxy.resetStats();
    expect(await client.referrers(r, subject)).toEqual({ manifests: [descriptor], source: 'tag' });
    expect(proxy.log.map((q) => `${q.method} ${q.path} ${q.status}`)).toEqual([
      `GET /v2/pd/cat-01/referrers/${subject} 404`,
      `GET /v2/pd/cat-01/manifests/${referrersTag(subject)} 200`,
    ]);
    expect(await client.referrers(r, subject, { artifactType: 'application/vnd.pd.other' })).toEqual({
      manifests: [],
      source: 'tag',
    });
    // No referrers at all: no fallback tag either.
    expect(await client.referrers(r, artifactDigest)).toEqual({ manifests: [], source: 'tag' });
  });
});
