import { PdError } from '@pd/oci-types';

/** The solver found no set of packages satisfying the specs (or could not read a channel). */
export class SolveError extends PdError {
  readonly specs: string[];
  constructor(specs: string[], detail: string, options: { hint?: string; cause?: unknown } = {}) {
    super(`cannot solve ${specs.join(', ') || 'the environment'}: ${detail}`, {
      code: 'CONDA_SOLVE_FAILED',
      hint: options.hint ?? 'check the package names, versions and channels',
      cause: options.cause,
    });
    this.specs = specs;
  }
}

/** A downloaded package did not hash to the checksum the channel published. Nothing was cached. */
export class PackageChecksumError extends PdError {
  readonly filename: string;
  readonly algorithm: 'sha256' | 'md5';
  readonly expected: string;
  readonly actual: string;
  constructor(filename: string, algorithm: 'sha256' | 'md5', expected: string, actual: string) {
    super(`${algorithm} mismatch for conda package ${filename}: expected ${expected}, got ${actual}`, {
      code: 'CONDA_CHECKSUM_MISMATCH',
      hint: 'the package or the channel index is corrupt or was tampered with; nothing was written',
    });
    this.filename = filename;
    this.algorithm = algorithm;
    this.expected = expected;
    this.actual = actual;
  }
}

/** environment.yml lists pip packages, which pd cannot install without running pip. */
export class PipNotSupportedError extends PdError {
  readonly packages: string[];
  constructor(packages: string[]) {
    super(`pip dependencies are not supported: ${packages.join(', ') || '(pip)'}`, {
      code: 'CONDA_PIP_UNSUPPORTED',
      hint: 'pd installs conda packages only; use the conda-forge builds of these packages, or add a layer built by pip',
    });
    this.packages = packages;
  }
}

/** An environment.yml or explicit lockfile is malformed. */
export class EnvironmentFileError extends PdError {
  readonly file: string;
  constructor(file: string, problem: string, hint?: string) {
    super(`invalid ${file}: ${problem}`, { code: 'CONDA_ENV_FILE_INVALID', ...(hint ? { hint } : {}) });
    this.file = file;
  }
}

const NETWORK_CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'the host name does not resolve (DNS)',
  EAI_AGAIN: 'the host name does not resolve (DNS, temporary failure)',
  ETIMEDOUT: 'the connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  ECONNRESET: 'the connection was reset',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
};

/**
 * What went wrong with a request, from the cause chain of `fetch`'s bare "fetch failed": refused,
 * DNS, timeout, TLS (certificate problems keep their text).
 */
export function describeNetworkError(e: unknown): string {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 6; cur = cur.cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (NETWORK_CAUSES[code]) return NETWORK_CAUSES[code];
    if (/CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return `TLS: ${cur.message}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/**
 * A channel index or a package could not be fetched: network error, HTTP status, missing file, or
 * not in the repodata cache with `offline`.
 */
export class ChannelError extends PdError {
  readonly url: string;
  readonly status: number | undefined;
  constructor(url: string, problem: string, status?: number, cause?: unknown) {
    super(`cannot fetch ${url}: ${problem}`, {
      code: 'CONDA_FETCH_FAILED',
      hint: 'check the channel URL and the network (or use a file:// channel)',
      cause,
    });
    this.url = url;
    this.status = status;
  }
}

/** A package archive is not a valid .conda / .tar.bz2, or its metadata is inconsistent. */
export class PackageFormatError extends PdError {
  readonly filename: string;
  constructor(filename: string, problem: string, cause?: unknown) {
    super(`invalid conda package ${filename}: ${problem}`, { code: 'CONDA_PACKAGE_INVALID', cause });
    this.filename = filename;
  }
}

/** The install prefix is longer than a binary file's placeholder, which cannot be rewritten in place. */
export class PrefixTooLongError extends PdError {
  constructor(prefix: string, placeholder: string, path: string) {
    super(
      `prefix ${prefix} is longer than the placeholder of binary file ${path} (${placeholder.length} bytes)`,
      {
        code: 'CONDA_PREFIX_TOO_LONG',
        hint: 'choose a shorter prefix such as /opt/conda',
      },
    );
  }
}

/** A package names a path outside the prefix, or writes through a symlink it created. */
export class UnsafeLinkError extends PdError {
  constructor(filename: string, path: string) {
    super(`conda package ${filename} has an unsafe path ${JSON.stringify(path)}`, {
      code: 'CONDA_UNSAFE_PATH',
      hint: 'the package tries to write outside its prefix; it was not installed',
    });
  }
}
