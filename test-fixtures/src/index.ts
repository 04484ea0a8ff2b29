export * from './docker.js';
export * from './fault-proxy.js';
export * from './ports.js';
export * from './redirect-server.js';
export * from './registry.js';
export * from './token-issuer.js';
export * from './tools.js';
