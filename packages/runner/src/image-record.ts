import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Image } from '@pd/image';
import { parseReference } from '@pd/oci-types';
import { mayNameFile, type RefRecord } from './source.js';

/** The record of the image a container runs, beside its bundle: what commit builds on. */
export const IMAGE_RECORD = 'image.json';

/**
 * @internal Write what commit needs to find the container's image again: its manifest and config
 * bytes, and where its layer blobs come from when pd's blob cache lacks them (the reference
 * pinned by digest, or the file).
 */
export async function recordImage(dir: string, input: Image | string, image: Image): Promise<void> {
  const digest = await image.digest();
  let ref = '';
  if (typeof input === 'string') {
    if (!(await mayNameFile(input))) ref = parseReference(input).repo().withDigest(digest).toString();
    else ref = existsSync(input) ? resolve(input) : input;
  }
  const record: RefRecord = {
    ref,
    platform: 'host',
    manifest: Buffer.from(await image.rawManifest()).toString('base64'),
    mediaType: await image.mediaType(),
    config: Buffer.from(await image.rawConfig()).toString('base64'),
    resolvedAt: new Date().toISOString(),
  };
  writeFileSync(join(dir, IMAGE_RECORD), JSON.stringify(record));
}
