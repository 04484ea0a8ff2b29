export * from './ports.js';
export * from './registry.js';
export * from './tools.js';
