import { PdError } from '@pd/oci-types';

/** A pd.yaml that cannot be read or parsed (validation problems raise oci-types' ValidationError). */
export class SpecFileError extends PdError {
  readonly file: string;
  constructor(file: string, problem: string, cause?: unknown) {
    super(`cannot read ${file}: ${problem}`, {
      code: 'PD_SPEC_UNREADABLE',
      hint: 'pd.yaml must be a YAML mapping',
      cause,
    });
    this.file = file;
  }
}
