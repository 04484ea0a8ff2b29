import type { Image, ImageIndex } from '@pd/image';
import { formatPlatform, PdError, type Platform, parsePlatform, platformMatches } from '@pd/oci-types';
import type { OptionSpec } from '../command.js';
import type { Context } from '../context.js';
import { UsageError } from '../output/errors.js';

/** The platform option shared by commands that pick one image of an index. */
export const PLATFORM_OPTION = {
  type: 'string',
  value: 'OS/ARCH[/VARIANT]',
  description: 'pick this platform from a multi-platform index (e.g. linux/arm64)',
} as const satisfies OptionSpec;

/** Goes with --platform: a single-platform image of another platform is refused without it, as docker does. */
export const FORCE_PLATFORM_OPTION = {
  type: 'boolean',
  description: 'use a single-platform image even when its platform is not --platform',
} as const satisfies OptionSpec;

/** An image whose config names another platform than the one asked for. */
export class PlatformMismatchError extends PdError {
  constructor(
    readonly wanted: string,
    readonly actual: string,
  ) {
    super(`the image is ${actual}, not the requested ${wanted}`, {
      code: 'PLATFORM_MISMATCH',
      hint: 'drop --platform, ask for the platform the image has, or add --force-platform to use it anyway',
    });
  }
}

/**
 * Check a --platform value before any work is done: its syntax (the parser's typed error), and
 * `all` or a list, which no command that picks one image can honour.
 */
export function checkPlatformValue(value: string, command: string): Platform {
  if (value === 'all' || value.includes(',')) {
    const pulls = command === 'pull' || command === 'copy';
    throw new UsageError(
      `--platform ${value}: pd ${command} works on one platform at a time`,
      pulls
        ? 'use --all-platforms to keep every platform of an index'
        : 'give one platform, e.g. --platform linux/amd64, and run once per platform',
    );
  }
  return parsePlatform(value);
}

/**
 * Refuse a single-platform image whose config names another platform than `--platform` (an
 * index was already matched when its child was picked), unless --force-platform says to go on.
 */
export async function ensurePlatform<T extends Image | ImageIndex>(
  ctx: Context,
  image: T,
  platform: string | undefined,
): Promise<T> {
  if (platform === undefined || platform === 'all' || image.kind !== 'image') return image;
  const config = await image.config();
  if (!config.os || !config.architecture) return image;
  const have: Platform = { os: config.os, architecture: config.architecture };
  if (config.variant) have.variant = config.variant;
  const want = parsePlatform(platform);
  if (platformMatches(want, have)) return image;
  const error = new PlatformMismatchError(platform, formatPlatform(have));
  if (!ctx.forcePlatform) throw error;
  ctx.warn(`${error.message}; going on (--force-platform)`);
  return image;
}
