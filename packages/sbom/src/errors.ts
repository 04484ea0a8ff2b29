import { PdError } from '@pd/oci-types';

/** An SBOM format pd does not write was asked for. */
export class UnknownSbomFormatError extends PdError {
  readonly format: string;
  constructor(format: string) {
    super(`unknown SBOM format "${format}"`, {
      code: 'UNKNOWN_SBOM_FORMAT',
      hint: 'use spdx-json or cyclonedx-json',
    });
    this.format = format;
  }
}

/** A document given to `sbomArtifact` is neither SPDX 2.x nor CycloneDX JSON. */
export class NotAnSbomError extends PdError {
  constructor(problem: string) {
    super(`not an SBOM document: ${problem}`, {
      code: 'NOT_AN_SBOM',
      hint: 'give a document made by sbomOf (SPDX 2.3 or CycloneDX 1.5 JSON)',
    });
  }
}
