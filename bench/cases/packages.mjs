#!/usr/bin/env node
// What each published package costs the user who installs it alone: bytes on disk, packages
// installed, and the time a cold process takes to import it. The packages are published with
// `pnpm publish -r` to a verdaccio on a loopback port and installed with plain npm into fresh
// directories (tests/consumers/lib/npm-registry.mjs, as the consumer tests do); third-party
// dependencies come from the npm registry through verdaccio, at the newest versions of their ranges.
// Import time: measured inside a fresh `node` process around `await import(pkg)` (process start
// excluded), median of the runs after one warm-up that fills the page cache.
// Standalone: pnpm build && node bench/cases/packages.mjs [runs]; prints a table and writes
// bench/results/packages.md.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  diskUsage,
  installedPackages,
  installFresh,
  publishWorkspace,
  startVerdaccio,
} from '../../tests/consumers/lib/npm-registry.mjs';
import { median } from '../lib/measure.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const PACKAGES = [
  'packages/oci-types',
  'packages/tar',
  'packages/registry',
  'packages/image',
  'packages/runner',
  'packages/conda',
  'packages/builder',
  'apps/cli',
].map((dir) => JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')));

/** Milliseconds a fresh process spends in `import(name)` from `dir`. */
function importMs(dir, name) {
  const code = `const t = performance.now(); await import(${JSON.stringify(name)}); process.stdout.write(String(performance.now() - t));`;
  return Number(
    execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: dir, encoding: 'utf8' }),
  );
}

export async function run({ runs = 7, log = console.log } = {}) {
  const registry = await startVerdaccio();
  const dirs = [];
  try {
    log('publishing the workspace to verdaccio');
    await publishWorkspace(registry);
    const rows = [];
    for (const pkg of PACKAGES) {
      log(`installing ${pkg.name}@${pkg.version} alone`);
      const dir = await installFresh(registry, [`${pkg.name}@${pkg.version}`]);
      dirs.push(dir);
      const installed = installedPackages(dir);
      importMs(dir, pkg.name); // warm-up
      const times = Array.from({ length: runs }, () => importMs(dir, pkg.name));
      rows.push({
        name: pkg.name,
        installMB: (await diskUsage(join(dir, 'node_modules'))) / 1e6,
        // Everything installed besides the package itself.
        dependencies: installed.length - 1,
        pd: installed.filter((d) => /[\\/]@pd[\\/]/.test(d)).length - 1,
        importMs: median(times),
      });
    }
    return rows;
  } finally {
    await registry.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runs = Number(process.argv[2] ?? 7);
  const rows = await run({ runs, log: (m) => process.stderr.write(`${m}\n`) });
  const lines = [
    `# Packages installed alone (${new Date().toISOString().slice(0, 10)})`,
    '',
    `Node ${process.version}; \`npm install <package>\` from a loopback verdaccio into an empty directory;`,
    `cold import: median of ${runs} fresh processes (after one warm-up), time inside \`import()\`.`,
    '',
    '| package | install size | packages installed (of them @pd/*) | cold import |',
    '|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.installMB.toFixed(1)} MB | ${r.dependencies} (${r.pd}) | ${r.importMs.toFixed(0)} ms |`,
    ),
    '',
  ];
  console.log(lines.join('\n'));
  writeFileSync(join(HERE, '..', 'results', 'packages.md'), lines.join('\n'));
}
