import { createRequire } from 'node:module';

/**
 * The CommonJS program a compression worker evaluates to get zstd. Its `module.exports` offers
 * `init(): Promise<void>` and `compress(data: Uint8Array, level: number): Uint8Array`
 * (@bokuweb/zstd-wasm's interface). The pool asks for it only when a worker gets its first zstd
 * job, so gzip never touches the library.
 *
 * This version, run from the TypeScript sources (tests, the monorepo), points the worker at the
 * library installed beside them. The published build replaces this file with the library itself
 * (glue and WASM inlined into the text, see scripts/embed-zstd.mjs): the worker then needs no
 * node_modules and no path, so a bundle of @pd/tar (esbuild, webpack, rollup) carries zstd along
 * as a plain string.
 */
export function zstdLibrarySource(): string {
  const path = createRequire(import.meta.url).resolve('@bokuweb/zstd-wasm');
  return `module.exports = require(${JSON.stringify(path)});`;
}
