import { parseManifest, parsePlatform, type Reference, selectPlatform } from '@pd/oci-types';
import type { Manifest } from '@pd/registry';
import type { Context } from '../context.js';
import { ensurePlatform } from './platform.js';

export interface ResolvedManifest extends Manifest {
  /** The reference the bytes were fetched by (the child's digest when a platform was picked). */
  ref: Reference;
}

/**
 * Fetch a manifest; with a platform, follow an index to the entry for it. A plain image manifest
 * of another platform is refused unless --force-platform (docker refuses it; crane does not look).
 */
export async function fetchManifest(
  ctx: Context,
  ref: Reference,
  platform?: string,
): Promise<ResolvedManifest> {
  const client = await ctx.registry();
  const m = await client.getManifest(ref, { signal: ctx.signal });
  if (platform === undefined) return { ...m, ref };
  const want = parsePlatform(platform);
  const parsed = parseManifest(m.bytes, m.mediaType);
  if (parsed.kind !== 'index') {
    // Only its config says which platform an image is for (a small blob, cached).
    const { remote } = await import('@pd/image');
    const image = await remote.image(ref.withDigest(m.digest), { client, signal: ctx.signal });
    await ensurePlatform(ctx, image, platform);
    return { ...m, ref };
  }
  const child = selectPlatform(parsed.index, want);
  const childRef = ref.withDigest(child.digest);
  ctx.log(`${ref.familiar()}: ${platform} is ${child.digest}`);
  const cm = await client.getManifest(childRef, { signal: ctx.signal, size: child.size });
  return { ...cm, ref: childRef };
}
