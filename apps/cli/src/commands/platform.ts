import type { Image, ImageIndex } from '@pd/image';
import { formatPlatform, PdError, type Platform, parsePlatform, platformMatches } from '@pd/oci-types';
import type { Context } from '../context.js';
import { UsageError } from '../output/errors.js';

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

/** What a --platform value asks for: one platform, or several (a list, or every one of an index). */
export type PlatformChoice = { one: Platform } | { many: Platform[] | 'all' };

/** Parse a --platform value of a command that takes PLATFORMS_OPTION. */
export function parsePlatformChoice(value: string): PlatformChoice {
  if (value === 'all') return { many: 'all' };
  if (!value.includes(',')) return { one: parsePlatform(value) };
  const many = value.split(',').map((p) => parsePlatform(p.trim()));
  const seen = new Set<string>();
  for (const p of many) {
    const text = formatPlatform(p);
    if (seen.has(text)) throw new UsageError(`--platform ${value}: ${text} is named twice`);
    seen.add(text);
  }
  return { many };
}

/**
 * Check a --platform value before any work is done: its syntax (the parser's typed error), and
 * `all` or a list, which only a command taking PLATFORMS_OPTION can honour.
 */
export function checkPlatformValue(value: string, command: string, many = false): Platform | undefined {
  if (many) {
    const choice = parsePlatformChoice(value);
    return 'one' in choice ? choice.one : undefined;
  }
  if (value === 'all' || value.includes(',')) {
    throw new UsageError(
      `--platform ${value}: pd ${command} works on one platform at a time`,
      'give one platform, e.g. --platform linux/amd64, and run once per platform',
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
  const { imagePlatform } = await import('@pd/image');
  const have = await imagePlatform(image);
  if (!have) return image;
  const want = parsePlatform(platform);
  if (platformMatches(want, have)) return image;
  const error = new PlatformMismatchError(platform, formatPlatform(have));
  if (!ctx.forcePlatform) throw error;
  ctx.warn(`${error.message}; going on (--force-platform)`);
  return image;
}
