import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { missingTools } from '@pd/test-fixtures';
import { describe, expect, test } from 'vitest';
import { type LayerInfo, tarDirectory, writeLayerFile } from '../src/index.js';
import { describeTree, scratchDir } from './helpers.js';

const base = scratchDir('pd-oci-tools-');

const src = join(base, 'src');
mkdirSync(join(src, 'app/bin'), { recursive: true });
writeFileSync(join(src, 'app/bin/run'), '#!/bin/sh\necho run\n');
chmodSync(join(src, 'app/bin/run'), 0o755);
writeFileSync(join(src, 'app/data.bin'), Buffer.alloc(1 << 20, 7));
symlinkSync('bin/run', join(src, 'app/run-link'));

/** A one-layer OCI image layout around a pd layer; blobs are written by hand, not by pd. */
async function layout(compression: 'gzip' | 'zstd'): Promise<{ dir: string; info: LayerInfo }> {
  const dir = join(base, `layout-${compression}`);
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const tmp = join(dir, 'layer.tmp');
  const info: LayerInfo = await writeLayerFile(tarDirectory(src), tmp, { compression });
  renameSync(tmp, join(dir, 'blobs/sha256', info.digest.slice(7)));
  const blob = (json: unknown) => {
    const bytes = Buffer.from(JSON.stringify(json));
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(dir, 'blobs/sha256', hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const config = blob({
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: [info.diffId] },
  });
  const manifest = blob({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: info.mediaType, digest: info.digest, size: info.size }],
  });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'test' },
        },
      ],
    }),
  );
  return { dir, info };
}

describe.skipIf(missingTools('umoci'))('umoci unpacks a pd layer', () => {
  test('gzip layer: digests verified, same tree', async () => {
    const { dir } = await layout('gzip');
    const bundle = join(base, 'bundle-gzip');
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${dir}:test`, bundle], { stdio: 'pipe' });
    expect(describeTree(join(bundle, 'rootfs'))).toEqual(describeTree(src));
  });
});

describe.skipIf(missingTools('skopeo'))('skopeo copies and decompresses pd layers', () => {
  test.each(['gzip', 'zstd'] as const)('%s layer', async (compression) => {
    const { dir, info } = await layout(compression);
    const out = join(base, `skopeo-${compression}`);
    execFileSync('skopeo', ['copy', '--dest-decompress', `oci:${dir}:test`, `dir:${out}`], { stdio: 'pipe' });
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
      layers: { digest: string }[];
    };
    // --dest-decompress: skopeo decompressed the layer itself, so it is stored under its diffID.
    expect(manifest.layers[0]!.digest).toBe(info.diffId);
    const listing = execFileSync('tar', ['-tf', join(out, manifest.layers[0]!.digest.slice(7))], {
      encoding: 'utf8',
    });
    expect(listing.split('\n').filter(Boolean).sort()).toEqual([
      'app/',
      'app/bin/',
      'app/bin/run',
      'app/data.bin',
      'app/run-link',
    ]);
  });
});
