// Bundle the CLI into one self-contained ESM file, bundle/pd.mjs, that runs with `node pd.mjs`
// on a machine with nothing else installed. Workspace packages are bundled from their built
// dist/ (turbo's bundle task builds them first), as any consumer's bundler sees them: @pd/tar's
// dist carries the zstd library as text for its compression workers, so nothing is patched here.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { installLauncher } from './bin-launcher.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
const outfile = join(root, 'bundle', 'pd.mjs');

await mkdir(dirname(outfile), { recursive: true });
const result = await build({
  entryPoints: [join(root, 'src', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  define: { __PD_VERSION__: JSON.stringify(pkg.version) },
  // CommonJS dependencies call require() for node builtins; give the ESM bundle a real one.
  banner: {
    js: "import { createRequire as __pdCreateRequire } from 'node:module';\nconst require = __pdCreateRequire(import.meta.url);",
  },
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});
// Executable as ./pd.mjs without Node reading pd's own options (see bin-launcher.mjs).
await installLauncher(outfile);
const { size } = await stat(outfile);
const inputs = Object.keys(result.metafile.inputs).length;
console.log(`bundle/pd.mjs: ${(size / 1e6).toFixed(2)} MB from ${inputs} modules`);
