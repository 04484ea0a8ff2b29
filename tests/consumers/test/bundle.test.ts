import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readEntries } from '@pd/tar';
import { build, type Format } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noNodeModulesAbove } from './workspace.js';

const run = promisify(execFile);
const PROGRAMS = join(dirname(fileURLToPath(import.meta.url)), '..', 'programs');

/** The line the build README tells ES module bundles to start with (for undici, which is CommonJS). */
const ESM_BANNER =
  "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

/**
 * Bundle a program the way a user would (esbuild, platform node, the packages' published
 * `exports`: their built dist/, not the @pd/source condition), into `dir`.
 */
async function bundle(program: string, dir: string, format: Format, banner?: string): Promise<string> {
  const outfile = join(dir, `${parse(program).name}.${format === 'esm' ? 'mjs' : 'cjs'}`);
  await build({
    entryPoints: [join(PROGRAMS, program)],
    outfile,
    bundle: true,
    platform: 'node',
    format,
    target: 'node20',
    logLevel: 'silent',
    ...(banner ? { banner: { js: banner } } : {}),
  });
  return outfile;
}

interface BuiltLayers {
  gzip: { digest: string; layers: { mediaType: string; digest: string }[]; diffIds: string[] };
  zstd: { digest: string; layers: { mediaType: string; digest: string }[]; diffIds: string[] };
  tar: { mediaType: string; names: string[] };
}

describe('a bundle of a program using @pd/tar, @pd/image and @pd/build', () => {
  let work: string;
  let expected: BuiltLayers;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pd-consumer-bundle-'));
    // The same program unbundled, from the workspace: what the bundles must reproduce.
    const out = await mkdtemp(join(work, 'plain-'));
    const { stdout } = await run(process.execPath, [join(PROGRAMS, 'build-layers.mjs'), out]);
    expected = JSON.parse(stdout) as BuiltLayers;
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('the unbundled program made gzip and zstd layers of the same tar', () => {
    expect(expected.gzip.layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
    ]);
    expect(expected.zstd.layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+zstd',
    ]);
    expect(expected.zstd.diffIds).toEqual(expected.gzip.diffIds);
    expect(expected.tar).toEqual({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
      names: ['hello'],
    });
  });

  it.each([
    ['CommonJS output, nothing added', 'cjs', undefined],
    ['ES module output with the documented createRequire banner', 'esm', ESM_BANNER],
  ] as const)(
    '%s: runs with no node_modules anywhere and builds the same layers',
    async (_, format, banner) => {
      const dir = await mkdtemp(join(work, `${format}-`));
      const built = await bundle('build-layers.mjs', work, format, banner);
      const script = join(dir, parse(built).base);
      await copyFile(built, script);
      expect(noNodeModulesAbove(dir)).toBe(true);

      const { stdout, stderr } = await run(process.execPath, [script, dir], { cwd: dir });
      expect(stderr).toBe('');
      const got = JSON.parse(stdout) as BuiltLayers;
      expect(got).toEqual(expected);

      // The zstd blob the bundle wrote is a zstd stream of the expected tar.
      const layer = got.zstd.layers[0]!.digest.replace(':', '/');
      const names: string[] = [];
      for await (const { header, body } of readEntries(await readFile(join(dir, 'zstd', 'blobs', layer)))) {
        names.push(header.name);
        body.resume();
      }
      expect(names).toEqual(['etc/', 'etc/app.conf']);
    },
  );

  it('@pd/tar alone bundles as an ES module with no banner and compresses gzip and zstd', async () => {
    const dir = await mkdtemp(join(work, 'tar-esm-'));
    const built = await bundle('tar-zstd.mjs', work, 'esm');
    const script = join(dir, parse(built).base);
    await copyFile(built, script);
    expect(await readFile(script, 'utf8')).not.toContain('createRequire');

    const bundled = await run(process.execPath, [script], { cwd: dir });
    const plain = await run(process.execPath, [join(PROGRAMS, 'tar-zstd.mjs')]);
    const got = JSON.parse(bundled.stdout) as Record<'gzip' | 'zstd', { diffId: string; mediaType: string }>;
    expect(got).toEqual(JSON.parse(plain.stdout));
    expect(got.zstd.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    expect(got.zstd.diffId).toBe(got.gzip.diffId);
  });
});
