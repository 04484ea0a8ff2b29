export {
  type BuildIndexOptions,
  type BuildOptions,
  buildImage,
  buildIndex,
  buildSpec,
} from './build.js';
export {
  BaseNotIndexError,
  BasePlatformError,
  SpecFileError,
  SpecInputError,
  SpecPlatformsError,
} from './errors.js';
export {
  type CondaSpec,
  type ConfigSpec,
  type FileSpec,
  type LayerSpec,
  loadSpec,
  type OverrideSpec,
  type PdSpec,
  parseSpec,
  resolveSpecFile,
  type StepSpec,
  specReference,
  validateSpec,
} from './spec.js';
