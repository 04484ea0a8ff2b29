import { hostPlatform, type ImageConfig, type Platform, parsePlatform } from '@pd/oci-types';
import { ComputedImage, type Family } from './computed.js';

/** Options of `scratch`. */
export interface ScratchOptions {
  /** Default: linux on the running machine's architecture. */
  platform?: Platform | string;
  /** Manifest family (default oci). */
  family?: Family;
}

/** An empty image (no layers, an empty config) to build on, like `FROM scratch`. */
export function scratch(opts: ScratchOptions = {}): ComputedImage {
  const host = hostPlatform();
  const p =
    typeof opts.platform === 'string'
      ? parsePlatform(opts.platform)
      : (opts.platform ?? { ...host, os: 'linux' });
  const config: ImageConfig = {
    architecture: p.architecture,
    os: p.os,
    ...(p.variant ? { variant: p.variant } : {}),
    ...(p['os.version'] ? { 'os.version': p['os.version'] } : {}),
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
  return new ComputedImage({ layers: [], config, family: opts.family ?? 'oci' });
}
