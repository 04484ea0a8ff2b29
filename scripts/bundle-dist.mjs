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
//
// `--inline-workspace` (the CLI) bundles the @pd/* packages too, from their dist as any
// consumer's bundler sees them, into the chunks beside the entries. A package loaded as its own
// file costs a command its resolution through node_modules and `exports`, and the compiling of all
// of it, used or not: `pd run` reached runc up to 6 ms sooner, and ended 4-5 ms sooner, with them
// in its chunks (bench/results/2026-12-07-start.md). npm dependencies stay imports.
//
// `--core MODULE` (repeatable; the CLI: cli.js, with the parser, help, errors and output it
// imports, and command.js, which every command imports): esbuild puts each module in a chunk by
// the set of entries and dynamic imports (commands) that reach it, so the modules main.js shares
// with different sets of commands became 8 small chunks that every command loaded before its
// own. With every module of the bundle importing the MODULEs (esbuild's `inject` of a module
// that imports them), all they reach is reached by everything: one chunk. `pd version` loaded
// 10 files, now 3; `pd run` 13, now 6.
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const dist = join(process.cwd(), 'dist');
const args = process.argv.slice(2);
const entries = args.flatMap((a, i) => (args[i - 1] === '--entry' ? [a] : []));
if (entries.length === 0) entries.push('index.js');
const inline = args.includes('--inline-workspace');
const core = args.flatMap((a, i) => (args[i - 1] === '--core' ? [a] : []));
const separate = args
  .filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--entry' && args[i - 1] !== '--core')
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
// Each package's entry as Node would resolve it from the importing module (its dist).
const inlineWorkspace = {
  name: 'pd-inline-workspace',
  setup(b) {
    b.onResolve({ filter: /^@pd\// }, (args) => ({ path: createRequire(args.importer).resolve(args.path) }));
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
const manifest = JSON.parse(await readFile(join(process.cwd(), 'package.json'), 'utf8'));
const { version } = manifest;
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
// Removed with the other inputs below: it is no output.
const coreImport = join(dist, '.pd-core.js');
if (core.length > 0) await writeFile(coreImport, core.map((m) => `import './${m}';\n`).join(''));
const result = await build({
  ...common,
  ...(core.length > 0 ? { inject: [coreImport] } : {}),
  entryPoints: entries.map((name) => join(dist, name)),
  ...(entries.length === 1
    ? { outfile: join(dist, entries[0]) }
    : { outdir: dist, splitting: true, chunkNames: 'chunk-[hash]' }),
  metafile: true,
  define: { __PD_VERSION__: JSON.stringify(version) },
  plugins: [keepSeparate, inline ? inlineWorkspace : bundleInternal],
});
// The inlined packages' npm dependencies are now imported from this package's files: each must
// be a dependency of this package too, or an install of it alone fails at the first import.
if (inline) {
  const declared = new Set(Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies }));
  const missing = new Set();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const { path, external } of output.imports) {
      if (!external || path.startsWith('node:') || /^\.{0,2}\//.test(path)) continue;
      const name = path
        .split('/')
        .slice(0, path.startsWith('@') ? 2 : 1)
        .join('/');
      if (!declared.has(name)) missing.add(name);
    }
  }
  if (missing.size > 0) {
    console.error(`bundle-dist: ${manifest.name} imports ${[...missing].join(', ')} (from inlined packages)`);
    console.error('  add them to its dependencies');
    process.exit(1);
  }
}

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
