export { type BuildOptions, buildImage } from './build.js';
export { SpecFileError, SpecInputError } from './errors.js';
export {
  type CondaSpec,
  type ConfigSpec,
  type FileSpec,
  type LayerSpec,
  loadSpec,
  type PdSpec,
  parseSpec,
  resolveSpecFile,
  specReference,
  validateSpec,
} from './spec.js';
