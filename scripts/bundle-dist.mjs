#!/usr/bin/env node
// Run by each package's build after tsc: dist/index.js and the package's own modules it imports
// become that one file (other packages and dependencies stay imports). A CLI start-up pays per
// ES module loaded (resolve, read, compile, link): `pd pull` loaded about 110 of them, about
// 60 ms more than the same code in four files. The .d.ts files stay as tsc wrote them; the
// other .js files are removed, so nothing can load a second copy of a module.
//
// @pd/internal (helpers several packages share, never published) is bundled in too, so no
// published package depends on it: into the entries, and into the modules kept separate that
// import it.
//
// `--entry NAME` (repeatable) names the entry modules instead of index.js. With several, code
// they share, and modules they import dynamically (the CLI's commands), go into chunk files
// beside them, loaded when first needed: the CLI's 18-30 modules of a command became 8-10 files,
// 6 ms of `pd version` and 8 ms of `pd copy` (bench/results/2026-12-05-d.md).
//
// Other arguments name dist modules that stay files of their own (e.g. `zstd-library.js`):
// modules the package imports dynamically, on first use, so their size costs nothing at start-up.
import { readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const dist = join(process.cwd(), 'dist');
const args = process.argv.slice(2);
const entries = args.flatMap((a, i) => (args[i - 1] === '--entry' ? [a] : []));
if (entries.length === 0) entries.push('index.js');
const separate = args
  .filter((a, i) => a !== '--entry' && args[i - 1] !== '--entry')
  .map((name) => join(dist, name));
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
      path: createRequire(join(dist, entries[0])).resolve('@pd/internal'),
    }));
  },
};
// The package's version, for code that names it (the CLI's `pd version`) without reading
// package.json at start-up.
const { version } = JSON.parse(await readFile(join(process.cwd(), 'package.json'), 'utf8'));
// Both builds below: ESM for Node 20 over tsc's output, npm packages left as imports.
const common = {
  allowOverwrite: true,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
};
const result = await build({
  ...common,
  entryPoints: entries.map((name) => join(dist, name)),
  ...(entries.length === 1
    ? { outfile: join(dist, entries[0]) }
    : { outdir: dist, splitting: true, chunkNames: 'chunk-[hash]' }),
  metafile: true,
  define: { __PD_VERSION__: JSON.stringify(version) },
  plugins: [keepSeparate, bundleInternal],
});

// A module kept separate is left as tsc wrote it, unless it imports @pd/internal: then that (and
// only that) is bundled into it, its imports of sibling modules staying imports.
const siblingsExternal = {
  name: 'pd-siblings-external',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) =>
      args.importer.startsWith(`${dist}/`) ? { path: args.path, external: true } : undefined,
    );
  },
};
for (const path of separate) {
  if (!/from ['"]@pd\/internal['"]/.test(await readFile(path, 'utf8'))) continue;
  await build({ ...common, entryPoints: [path], outfile: path, plugins: [siblingsExternal, bundleInternal] });
}

const written = Object.keys(result.metafile.outputs).map((p) => relative(dist, resolve(p)));
const keep = new Set([...written, ...separate.map((p) => relative(dist, p))]);
for (const e of await readdir(dist, { recursive: true, withFileTypes: true })) {
  if (!e.isFile() || !/\.js(\.map)?$/.test(e.name)) continue;
  const path = join(e.parentPath ?? e.path, e.name);
  if (!keep.has(relative(dist, path))) await rm(path);
}
