import {
  type Descriptor,
  type HasManifests,
  isIndexMediaType,
  type Platform,
  PlatformNotFoundError,
  parsePlatform,
  selectPlatform,
} from '@pd/oci-types';
import type { Image, ImageIndex } from './model.js';

/** The platform an image's config names (os, architecture, variant); undefined when it names none. */
export async function imagePlatform(image: Image): Promise<Platform | undefined> {
  const { os, architecture, variant } = await image.config();
  if (!os || !architecture) return undefined;
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** The child of an index for `platform` (default: the running machine's), following nested indexes. */
export async function imageForPlatform(index: ImageIndex, platform?: Platform | string): Promise<Image> {
  const want = typeof platform === 'string' ? parsePlatform(platform) : platform;
  const d = platformEntry(await index.manifest(), want);
  const child = (await index.children()).find((c) => c.descriptor.digest === d.digest);
  const opened = await child!.open();
  return opened.kind === 'index' ? imageForPlatform(opened, want) : opened;
}

/**
 * The entry of an index to follow for `want`: the best platform match, else the one nested index
 * without a platform (the list an index of a layout or a podman push points at), where the
 * platforms are. Throws `PlatformNotFoundError` when neither exists.
 */
export function platformEntry(index: HasManifests, want?: Platform): Descriptor {
  try {
    return selectPlatform(index, want);
  } catch (e) {
    const nested = index.manifests.filter((d) => !d.platform && isIndexMediaType(d.mediaType));
    if (e instanceof PlatformNotFoundError && nested.length === 1) return nested[0]!;
    throw e;
  }
}
