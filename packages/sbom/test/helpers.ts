import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendLayers, BlobCache, type Image, layerFromContents, scratch } from '@pd/image';
import type { Contents } from '@pd/tar';

/** A private blob cache for a test file. */
export function tempCache(): { cache: BlobCache; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'pd-sbom-test-'));
  return {
    cache: new BlobCache(join(dir, 'cache')),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** An image of one layer per `Contents`, lowest first, on scratch. */
export async function imageOf(cache: BlobCache, layers: Contents[], created?: string): Promise<Image> {
  const built = [];
  for (const contents of layers)
    built.push(await layerFromContents(contents, { cache, compression: 'gzip' }));
  return appendLayers(scratch({ platform: 'linux/amd64' }), built, {
    created: created ? new Date(created) : new Date(0),
  });
}
