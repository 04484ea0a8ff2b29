import { type Platform, parsePlatform, selectPlatform } from '@pd/oci-types';
import type { Image, ImageIndex } from './model.js';

/** The child of an index for `platform` (default: the running machine's), following nested indexes. */
export async function imageForPlatform(index: ImageIndex, platform?: Platform | string): Promise<Image> {
  const want = typeof platform === 'string' ? parsePlatform(platform) : platform;
  const d = selectPlatform(await index.manifest(), want);
  const child = (await index.children()).find((c) => c.descriptor.digest === d.digest);
  const opened = await child!.open();
  return opened.kind === 'index' ? imageForPlatform(opened, want) : opened;
}
