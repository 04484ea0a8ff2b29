import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MT, sha256 } from './support.js';

/**
 * Write an OCI image layout by hand (no pd code involved): uncompressed layers as given, a
 * config naming their diffIDs, a manifest, index.json tagged `latest`. Returns the directory.
 */
export function writeLayout(
  dir: string,
  layers: Buffer[],
  config: Record<string, unknown> = { Cmd: ['/bin/true'] },
): string {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer) => {
    const digest = sha256(b);
    writeFileSync(join(blobs, digest.slice('sha256:'.length)), b);
    return { digest, size: b.length };
  };
  const cfg = put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config,
        rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) },
      }),
    ),
  );
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, ...cfg },
        layers: layers.map((l) => ({ mediaType: MT.ociLayer, ...put(l) })),
      }),
    ),
  );
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: MT.ociManifest,
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
  return dir;
}

/** Run `fn` over `items`, at most `limit` at a time, in order of the results. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
