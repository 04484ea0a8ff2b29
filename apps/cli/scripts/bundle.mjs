// Bundle the CLI into one self-contained ESM file, bundle/pd.mjs, that runs with `node pd.mjs`
// on a machine with nothing else installed. Workspace packages are read from their TypeScript
// sources (the @pd/source condition), so the bundle never depends on a stale dist/.
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
const outfile = join(root, 'bundle', 'pd.mjs');

/*
 * @pd/tar compresses zstd on worker threads that `require()` @bokuweb/zstd-wasm by the path the
 * main thread resolved. A bundle has no node_modules to resolve it in, so the library (its glue
 * and its .wasm, inlined) is bundled into a CommonJS text, embedded here, and written once into
 * the cache directory at first use; the resolve call in tar's pool is pointed at that file.
 */
const tarRequire = createRequire(join(root, '..', '..', 'packages', 'tar', 'package.json'));
const zstdDir = dirname(tarRequire.resolve('@bokuweb/zstd-wasm'));

async function zstdLibSource() {
  const entry = [
    `const m = require(${JSON.stringify(join(zstdDir, 'module.js'))});`,
    `const wasm = require(${JSON.stringify(join(zstdDir, 'zstd.wasm'))});`,
    'exports.init = async () => { m.Module.init(Buffer.from(wasm.default ?? wasm)); await m.waitInitialized(); };',
    `Object.assign(exports, require(${JSON.stringify(join(zstdDir, 'simple', 'compress.js'))}));`,
    `Object.assign(exports, require(${JSON.stringify(join(zstdDir, 'simple', 'decompress.js'))}));`,
  ].join('\n');
  const r = await build({
    stdin: { contents: entry, resolveDir: zstdDir, loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    loader: { '.wasm': 'binary' },
    write: false,
    minify: true,
    logLevel: 'silent',
  });
  return r.outputFiles[0].text;
}

const POOL_RESOLVE = "createRequire(import.meta.url).resolve('@bokuweb/zstd-wasm')";

function zstdWorkerPlugin(libSource) {
  const hash = createHash('sha256').update(libSource).digest('hex').slice(0, 16);
  return {
    name: 'pd-zstd-worker-lib',
    setup(b) {
      b.onResolve({ filter: /^pd-bundle:zstd-lib$/ }, () => ({ path: 'zstd-lib', namespace: 'pd-bundle' }));
      b.onLoad({ filter: /.*/, namespace: 'pd-bundle' }, () => ({
        loader: 'js',
        resolveDir: root,
        contents: `
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
const SOURCE = ${JSON.stringify(libSource)};
let path;
function cacheHome() {
  if (process.env.PD_CACHE_DIR) return process.env.PD_CACHE_DIR;
  if (process.env.XDG_CACHE_HOME) return join(process.env.XDG_CACHE_HOME, 'pd');
  return join(homedir(), '.cache', 'pd');
}
function materialize(dir) {
  const file = join(dir, 'runtime', 'zstd-wasm-${hash}.cjs');
  try {
    if (statSync(file).size === SOURCE.length) return file;
  } catch {}
  mkdirSync(join(dir, 'runtime'), { recursive: true });
  const tmp = file + '.' + process.pid + '.tmp';
  writeFileSync(tmp, SOURCE);
  renameSync(tmp, file);
  return file;
}
export function zstdLibPath() {
  if (path) return path;
  try {
    path = materialize(cacheHome());
  } catch {
    path = materialize(join(tmpdir(), 'pd-' + (process.getuid?.() ?? 'user')));
  }
  return path;
}
`,
      }));
      b.onLoad({ filter: /[\\/]packages[\\/]tar[\\/](src|dist)[\\/]pool\.(ts|js)$/ }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        if (!text.includes(POOL_RESOLVE)) {
          throw new Error(
            `@pd/tar's pool no longer contains ${POOL_RESOLVE}; update apps/cli/scripts/bundle.mjs to load zstd in the bundle`,
          );
        }
        const contents = `import { zstdLibPath as __pdZstdLibPath } from 'pd-bundle:zstd-lib';\n${text.replace(POOL_RESOLVE, '__pdZstdLibPath()')}`;
        return { contents, loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
      });
    },
  };
}

await mkdir(dirname(outfile), { recursive: true });
const result = await build({
  entryPoints: [join(root, 'src', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['@pd/source'],
  define: { __PD_VERSION__: JSON.stringify(pkg.version) },
  // CommonJS dependencies call require() for node builtins; give the ESM bundle a real one.
  banner: {
    js: "import { createRequire as __pdCreateRequire } from 'node:module';\nconst require = __pdCreateRequire(import.meta.url);",
  },
  loader: { '.wasm': 'binary' },
  plugins: [zstdWorkerPlugin(await zstdLibSource())],
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});
await chmod(outfile, 0o755);
const { size } = await stat(outfile);
const inputs = Object.keys(result.metafile.inputs).length;
console.log(`bundle/pd.mjs: ${(size / 1e6).toFixed(2)} MB from ${inputs} modules`);
