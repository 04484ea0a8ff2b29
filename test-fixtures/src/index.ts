export * from './docker.js';
export * from './ports.js';
export * from './registry.js';
export * from './tools.js';
