export { type BuildOptions, buildImage } from './build.js';
export { SpecFileError } from './errors.js';
export {
  type CondaSpec,
  type ConfigSpec,
  type FileSpec,
  type LayerSpec,
  loadSpec,
  type PdSpec,
  parseSpec,
  specReference,
  validateSpec,
} from './spec.js';
