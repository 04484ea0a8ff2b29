export {
  cycloneDxDocument,
  SBOM_FORMATS,
  type SbomDocument,
  type SbomFormat,
  type SbomSubject,
  spdxDocument,
} from './documents.js';
export { NotAnSbomError, UnknownSbomFormatError } from './errors.js';
export { type Inventory, inventoryOf, inventoryOfLayers } from './inventory.js';
export { spdxExpression } from './license.js';
export type { Ecosystem, OsRelease, PackageInfo } from './model.js';
export { purl } from './purl.js';
export {
  defaultCreated,
  SBOM_MEDIA_TYPES,
  type SbomArtifact,
  type SbomOptions,
  sbomArtifact,
  sbomDocument,
  sbomFormatOf,
  sbomOf,
  serializeSbom,
} from './sbom.js';
export type { LayerOpener } from './scan.js';
