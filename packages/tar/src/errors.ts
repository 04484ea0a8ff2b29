import { PdError } from '@pd/oci-types';

/**
 * An archive entry would create, change or follow something outside the extraction target
 * (`../` names, symlinks leading out, hardlinks to outside files...). Nothing was written for it.
 */
export class UnsafePathError extends PdError {
  /** The entry name as it appears in the archive. */
  readonly entry: string;
  readonly reason: string;
  constructor(entry: string, reason: string) {
    super(`unsafe archive entry "${clip(entry)}": ${reason}`, {
      code: 'UNSAFE_PATH',
      hint: 'the archive tries to reach outside the target directory; it was refused',
    });
    this.entry = entry;
    this.reason = reason;
  }
}

/** The bytes are not a well-formed tar (bad checksum, truncated, impossible sizes) or compression stream. */
export class TarFormatError extends PdError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, {
      code: 'TAR_FORMAT',
      hint: options.hint ?? 'the layer is corrupt or not a tar archive',
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
  }
}

function clip(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
