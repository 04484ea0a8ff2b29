// Helpers more than one pd package needs. This package is private: each package's build bundles
// what it uses (scripts/bundle-dist.mjs), so none of it is published as anyone's API.

export { type AbortGroup, abortGroup } from './abort-group.js';
export { EvalWorkers, type EvalWorkersOptions, type WorkerSlot } from './eval-workers.js';
export { mapLimit } from './map-limit.js';
export { byteLength, writeFully } from './write-fully.js';
