export * from './config.js';
export * from './descriptor.js';
export * from './digest.js';
export * from './errors.js';
export * from './layout.js';
export * from './manifest.js';
export * from './media-types.js';
export * from './parse.js';
export * from './platform.js';
export * from './reference.js';
export * from './runtime-spec.js';
/** The validator combinators, for documents of your own: `v.object({ name: v.required(v.string) })`. */
export * as v from './validate.js';
export { type Check, type Field, type Infer, type Shape, validateWith } from './validate.js';
