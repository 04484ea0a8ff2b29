#!/usr/bin/env node
// Run by each package's build after tsc: dist/index.js and the package's own modules it imports
// become that one file (other packages and dependencies stay imports). A CLI start-up pays per
// ES module loaded (resolve, read, compile, link): `pd pull` loaded about 110 of them, about
// 60 ms more than the same code in four files. The .d.ts files stay as tsc wrote them; the
// other .js files are removed, so nothing can load a second copy of a module.
//
// @pd/internal (helpers several packages share, never published) is bundled in too, so no
// published package depends on it.
//
// Arguments name dist modules that stay files of their own (e.g. `zstd-library.js`): modules
// the package imports dynamically, on first use, so their size costs nothing at start-up.
import { readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { build } from 'esbuild';

const dist = join(process.cwd(), 'dist');
const entry = join(dist, 'index.js');
const separate = process.argv.slice(2).map((name) => join(dist, name));
const keepSeparate = {
  name: 'pd-separate-modules',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const path = join(args.resolveDir, args.path);
      return separate.includes(path) ? { path: `./${relative(dist, path)}`, external: true } : undefined;
    });
  },
};
const bundleInternal = {
  name: 'pd-bundle-internal',
  setup(b) {
    b.onResolve({ filter: /^@pd\/internal$/ }, () => ({
      path: createRequire(entry).resolve('@pd/internal'),
    }));
  },
};
await build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  plugins: [keepSeparate, bundleInternal],
  logLevel: 'warning',
});

const keep = new Set(['index.js', 'index.js.map', ...separate.map((p) => relative(dist, p))]);
for (const e of await readdir(dist, { recursive: true, withFileTypes: true })) {
  if (!e.isFile() || !/\.js(\.map)?$/.test(e.name)) continue;
  const path = join(e.parentPath ?? e.path, e.name);
  if (!keep.has(relative(dist, path))) await rm(path);
}
