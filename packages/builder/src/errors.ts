import { PdError } from '@pd/oci-types';

/** `no such file or directory`, not Node's `ENOENT: no such file or directory, open '…'`. */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'ENOTDIR') return 'a parent of the path is not a directory';
  return (e as Error).message;
}

/** A pd.yaml that cannot be read or parsed (validation problems raise oci-types' ValidationError). */
export class SpecFileError extends PdError {
  readonly file: string;
  constructor(file: string, problem: string, cause?: unknown, hint = 'pd.yaml must be a YAML mapping') {
    super(`cannot read ${file}: ${problem}`, { code: 'PD_SPEC_UNREADABLE', hint, cause });
    this.file = file;
  }
}

/** A path a pd.yaml names (a layer's src, a conda environment or lock file) that cannot be read. */
export class SpecInputError extends PdError {
  /** The field, as in validation errors: `$.layers[0].src`. */
  readonly field: string;
  readonly path: string;
  constructor(field: string, path: string, problem: string, baseDir: string, cause?: unknown) {
    super(`pd.yaml ${field}: ${path}: ${problem}`, {
      code: 'PD_SPEC_INPUT',
      hint: `paths in pd.yaml are relative to its directory, ${baseDir}`,
      cause,
    });
    this.field = field;
    this.path = path;
  }
}

/** A base that has no image for a platform the build asks for (a single-platform base serves only its own). */
export class BasePlatformError extends PdError {
  /** The base as pd.yaml (or the caller) names it. */
  readonly base: string;
  /** The platform it lacks, as `linux/arm64`. */
  readonly platform: string;
  constructor(base: string, platform: string, has: string[], cause?: unknown) {
    super(`the base ${base} has no image for ${platform}`, {
      code: 'PD_BASE_PLATFORM',
      hint: has.length
        ? `it has ${has.join(', ')}: build for those, or use a base that has ${platform}`
        : `use a multi-platform base that has ${platform}`,
      cause,
    });
    this.base = base;
    this.platform = platform;
  }
}

/** `buildImage` asked for one image of a pd.yaml that lists several `platforms`, without saying which. */
export class SpecPlatformsError extends PdError {
  constructor(platforms: readonly string[]) {
    super(`the pd.yaml lists platforms (${platforms.join(', ')}): it builds an index`, {
      code: 'PD_SPEC_PLATFORMS',
      hint: 'build it with buildIndex (or buildSpec), or pass options.platform to build the image of one',
    });
  }
}

/** `platforms: 'all'` (`pd build --platform all`) with a base that is one image, not an index. */
export class BaseNotIndexError extends PdError {
  readonly base: string;
  constructor(base: string) {
    super(`the base ${base} is not a multi-platform index: it has no "all" platforms`, {
      code: 'PD_BASE_NOT_INDEX',
      hint: 'name the platforms to build (e.g. linux/amd64,linux/arm64), or use an index as the base',
    });
    this.base = base;
  }
}
