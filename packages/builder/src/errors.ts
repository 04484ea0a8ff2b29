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
