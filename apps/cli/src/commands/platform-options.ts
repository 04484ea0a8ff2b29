// The --platform options' specs, apart from the code that parses their values: the CLI's core
// (argument parsing, help) needs the specs, and would otherwise load @pd/oci-types for
// `pd --help` and `pd version` (5 ms of their start-up).
import type { OptionSpec } from '../command.js';

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

/**
 * --platform of a command that can work on several platforms at once: one platform, a
 * comma-separated list, or `all` (every platform of an index).
 */
export const PLATFORMS_OPTION = {
  type: 'string',
  value: 'PLATFORM[,PLATFORM...]|all',
  description:
    "the platform to work on (default: this machine's, from a multi-platform index); a list or `all`\n" +
    'works on each of them and writes an index',
} as const satisfies OptionSpec;

/** The value of conda build's --platform: conda subdirs or image platforms, not an image to pick (no --force-platform). */
export const CONDA_PLATFORMS_VALUE = 'SUBDIR|OS/ARCH[,...]';

/** Goes with a list --platform: children of the index it does not name stay in the result, unchanged. */
export const KEEP_OTHER_PLATFORMS_OPTION = {
  type: 'boolean',
  description: 'with a list --platform, keep the platforms it does not name as they are (default: drop them)',
} as const satisfies OptionSpec;
