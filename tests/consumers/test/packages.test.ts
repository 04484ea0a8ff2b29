import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Manifest, pack, publishedPackages, ROOT, run } from './workspace.js';

const packages = publishedPackages();
const LICENSE = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;

/** Every specifier in a published manifest's dependency maps. */
function specifiers(m: Manifest): [string, string][] {
  return [m.dependencies, m.peerDependencies].flatMap((d) => Object.entries(d ?? {}));
}

/**
 * Subpath exports (name → dist module): @pd/tar's file helpers, which @pd/image's blob cache and
 * layout writer use without loading the tar code (~25 ms of every pull's and copy's start-up);
 * @pd/oci-types' error classes, which the CLI's core needs for `pd --help` and `pd version`.
 */
const SUBPATHS: Record<string, Record<string, string>> = {
  '@pd/oci-types': { errors: 'errors' },
  '@pd/tar': { 'file-io': 'batched-file' },
};
describe('what `pnpm pack` puts in each tarball', () => {
  let work: string;
  const tarballs = new Map<string, string>();

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pd-pack-'));
    for (const p of packages) tarballs.set(p.manifest.name, await pack(p, work));
  }, 180_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('finds the nine published packages', () => {
    expect(packages.map((p) => p.manifest.name).sort()).toEqual([
      '@pd/build',
      '@pd/cli',
      '@pd/conda',
      '@pd/image',
      '@pd/oci-types',
      '@pd/registry',
      '@pd/runner',
      '@pd/sbom',
      '@pd/tar',
    ]);
  });

  it.each(packages.map((p) => [p.manifest.name, p] as const))('%s', async (name, p) => {
    const tgz = tarballs.get(name)!;
    const list = (await run('tar', ['tzf', tgz], { maxBuffer: 16 << 20 })).stdout.split('\n');
    const file = async (path: string) =>
      (await run('tar', ['xzfO', tgz, `package/${path}`], { maxBuffer: 64 << 20 })).stdout;
    const m = JSON.parse(await file('package.json')) as Manifest;

    // The licence text, and the metadata registries and users read.
    expect(await file('LICENSE')).toBe(LICENSE);
    expect(m.license).toBe('Apache-2.0');
    expect(m.description).toMatch(/\w{4}/);
    expect(m.keywords?.length).toBeGreaterThan(2);
    expect(m.repository).toEqual({ type: 'git', url: root.repository?.url, directory: p.dir });
    expect(m.homepage).toBe(
      `${root.repository?.url.replace(/^git\+|\.git$/g, '')}/tree/main/${p.dir}#readme`,
    );
    expect(m.bugs?.url).toBe(root.bugs?.url);
    expect(m.engines?.node).toBe('>=20.19.0');
    expect(list).toContain('package/README.md');

    // Nothing of the monorepo: no scripts, no dev dependencies, no source condition, no
    // workspace or catalog protocol, no test files.
    expect(m.scripts).toBeUndefined();
    expect(m.devDependencies).toBeUndefined();
    expect(JSON.stringify(m.exports)).not.toContain('@pd/source');
    for (const [dep, spec] of specifiers(m)) {
      expect(spec, dep).not.toMatch(/^(workspace|catalog):/);
      // Third-party dependencies take a caret range (the lockfile pins what CI tests).
      if (!dep.startsWith('@pd/')) expect(spec, dep).toMatch(/^\^\d/);
    }
    expect(list.filter((f) => /\.test\.ts$|\/test\//.test(f))).toEqual([]);

    // The exports every consumer resolves: types, the ES module (also what require() loads), package.json;
    // and the subpaths a package offers so that a consumer loads less than its whole entry.
    const subpaths = SUBPATHS[name] ?? {};
    expect(m.exports).toEqual({
      '.': { types: './dist/index.d.ts', default: './dist/index.js' },
      ...Object.fromEntries(
        Object.entries(subpaths).map(([k, f]) => [
          `./${k}`,
          { types: `./dist/${f}.d.ts`, default: `./dist/${f}.js` },
        ]),
      ),
      './package.json': './package.json',
    });
    expect(list).toEqual(expect.arrayContaining(['package/dist/index.js', 'package/dist/index.d.ts']));
    for (const f of Object.values(subpaths))
      expect(list).toEqual(expect.arrayContaining([`package/dist/${f}.js`, `package/dist/${f}.d.ts`]));
  });

  // attw does not know require(esm) yet (arethetypeswrong.github.io issue 252): for a require() it
  // reports "ESM (dynamic import only)", which Node >= 20.19 (our engines) no longer is. That
  // rule alone is ignored; the consumer tests require() every package from CommonJS for real.
  it.each(packages.map((p) => [p.manifest.name] as const))(
    'attw finds no problem in %s',
    async (name) => {
      const r = await run(
        join(ROOT, 'node_modules', '.bin', 'attw'),
        [tarballs.get(name)!, '--ignore-rules', 'cjs-resolves-to-esm', '--no-color', '--no-emoji'],
        { maxBuffer: 16 << 20 },
      ).catch((e: { stdout: string; code: number }) => e);
      expect(r.stdout).toMatch(/No problems found/);
      // Each cell of its table is OK, none an attw problem (an entry point may be named `errors`).
      expect(r.stdout).not.toMatch(
        /Problem|resolution error|Resolution failed|No types|Masquerading|fallback/,
      );
      expect((r as { code?: number }).code ?? 0).toBe(0);
    },
    60_000,
  );
});
