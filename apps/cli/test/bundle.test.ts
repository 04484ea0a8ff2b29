import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, parse } from 'node:path';
import {
  buildCondaChannel,
  condaFixturePackages,
  condaToolsMissing,
  dockerMissing,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  runcMissing,
  serveCondaChannel,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_DIR, isolatedEnv, PD_BUNDLE, pd } from './helpers.js';

const EXAMPLE = join(CLI_DIR, '..', '..', 'examples', 'pd.yaml');

/** No node_modules in `dir` or any parent: the bundle can resolve nothing but node's builtins. */
function noNodeModulesAbove(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) return false;
    if (d === parse(d).root) return true;
  }
}

describe('the single-file bundle', () => {
  const iso = isolatedEnv();
  const script = join(iso.dir, 'pd.mjs');
  const run = (args: string[]) => pd(args, { env: iso.env, cwd: iso.dir, script });

  beforeAll(() => {
    copyFileSync(PD_BUNDLE, script);
  });
  afterAll(() => iso.cleanup());

  it('runs from a directory with no node_modules anywhere above it', async () => {
    expect(noNodeModulesAbove(iso.dir)).toBe(true);
    expect(statSync(PD_BUNDLE).mode & 0o111).not.toBe(0);
    const r = await run(['version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^pd \d+\.\d+\.\d+/);
  });

  it('compresses with gzip and zstd worker threads (zstd WASM inlined, nothing written to load it)', async () => {
    mkdirSync(join(iso.dir, 'd'));
    writeFileSync(join(iso.dir, 'd', 'f'), 'x'.repeat(5 << 20));
    const results = [];
    for (const c of ['gzip', 'zstd']) {
      const r = await run([
        'layer',
        'create',
        join(iso.dir, 'd'),
        '--compression',
        c,
        '-o',
        join(iso.dir, `l.${c}`),
        '--json',
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      results.push(JSON.parse(r.stdout) as { diffId: string });
    }
    expect(results[0]!.diffId).toBe(results[1]!.diffId);
    // The workers got the zstd library as text: no file was written to load it from.
    expect(existsSync(join(iso.env.PD_CACHE_DIR!, 'runtime'))).toBe(false);
    expect(readdirSync(iso.dir).filter((f) => f.endsWith('.cjs'))).toEqual([]);
    const ls = await run(['layer', 'ls', join(iso.dir, 'l.zstd')]);
    expect(ls.stdout).toMatch(/ f$/m);
  });

  it('builds examples/pd.yaml to the digest the unbundled CLI gives', async () => {
    const bundled = await run(['build', EXAMPLE, '-o', join(iso.dir, 'b.tar'), '--json']);
    const plain = await pd(['build', EXAMPLE, '-o', join(iso.dir, 'p.tar'), '--json'], { env: iso.env });
    expect(bundled.code).toBe(0);
    expect(JSON.parse(bundled.stdout).digest).toBe(JSON.parse(plain.stdout).digest);
  });

  it.skipIf(condaToolsMissing())('solves and links a conda environment (rattler WASM inlined)', async () => {
    const channel = await buildCondaChannel(join(iso.dir, 'channel'), condaFixturePackages());
    const served = await serveCondaChannel(channel.dir, 'fixture');
    try {
      const r = await run([
        'conda',
        'build',
        '-b',
        'scratch',
        '-i',
        'x/conda:1',
        '-o',
        join(iso.dir, 'c.tar'),
        '-c',
        served.url,
        'a',
        '--json',
      ]);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout).packages).toEqual([
        'c-1.1-h0000000_0',
        'b-2.5-h0000000_0',
        'a-1.0-h0000000_0',
      ]);
    } finally {
      await served.stop();
    }
  });

  describe.skipIf(registryMissing() ?? dockerMissing())('against the registry', () => {
    let registry: RunningRegistry;
    beforeAll(async () => {
      registry = await startRegistry();
    });
    afterAll(() => registry?.stop());

    it('pd digest, and its error for a missing tag', async () => {
      const fx = await fixtureImages(registry);
      const r = await run(['digest', fx.small.ref]);
      expect(r.stdout).toBe(`${fx.small.digest}\n`);
      const bad = await run(['digest', `${registry.host}/fixtures/small:nope`]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/^pd: manifest .* not found/);
    });

    it.skipIf(runcMissing())('pd run with runc', async () => {
      const fx = await fixtureImages(registry);
      const r = await run(['run', '--rm', fx.small.ref, 'sh', '-c', 'cat /hello.txt; exit 7']);
      expect(r.stdout).toBe(fx.small.files['/hello.txt']);
      expect(r.code).toBe(7);
    });
  });
});
