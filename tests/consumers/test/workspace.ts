import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  description?: string;
  keywords?: string[];
  homepage?: string;
  bugs?: { url: string };
  repository?: { type: string; url: string; directory: string };
  license?: string;
  exports?: Record<string, unknown>;
  engines?: { node?: string };
  files?: string[];
  bin?: Record<string, string>;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies?: Record<string, string>;
}

export interface WorkspacePackage {
  /** Directory relative to the repository root, e.g. packages/tar. */
  dir: string;
  manifest: Manifest;
}

/** The packages pd publishes: every non-private package of the workspace. */
export function publishedPackages(): WorkspacePackage[] {
  const out: WorkspacePackage[] = [];
  for (const parent of ['packages', 'apps']) {
    for (const name of readdirSync(join(ROOT, parent)).sort()) {
      const dir = `${parent}/${name}`;
      let manifest: Manifest;
      try {
        manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as Manifest;
      } catch {
        continue;
      }
      if (!manifest.private) out.push({ dir, manifest });
    }
  }
  return out;
}

/** `pnpm pack` of one package into `dest` (the release tooling's tarball); returns its path. */
export async function pack(pkg: WorkspacePackage, dest: string): Promise<string> {
  const { stdout } = await run('pnpm', ['pack', '--pack-destination', dest], {
    cwd: join(ROOT, pkg.dir),
    maxBuffer: 16 << 20,
  });
  const tgz = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.endsWith('.tgz'));
  if (!tgz) throw new Error(`pnpm pack printed no tarball for ${pkg.manifest.name}:\n${stdout}`);
  return tgz.trim();
}

/** No node_modules in `dir` or any parent: a program there resolves nothing but Node's builtins. */
export function noNodeModulesAbove(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) return false;
    if (d === parse(d).root) return true;
  }
}
