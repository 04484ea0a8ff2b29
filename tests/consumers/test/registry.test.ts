import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Image } from '@pd/image';
import {
  buildCondaChannel,
  condaFixturePackages,
  condaToolsMissing,
  type RunningRegistry,
  registryMissing,
  runcMissing,
  type ServedCondaChannel,
  serveCondaChannel,
  startRegistry,
} from '@pd/test-fixtures';
import { build, transform } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  installFresh,
  type NpmRegistry,
  publishWorkspace,
  ROOT,
  run,
  startVerdaccio,
} from '../lib/npm-registry.mjs';
import { noNodeModulesAbove, publishedPackages } from './workspace.js';

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NODE_TYPES = join(ROOT, 'node_modules', '@types');

/** Per library: one runtime export, what `typeof` says of it, and a line that uses the package for real. */
const PROBES: Record<string, { name: string; type: string }> = {
  '@pd/oci-types': { name: 'parseReference', type: 'function' },
  '@pd/tar': { name: 'compressLayer', type: 'function' },
  '@pd/registry': { name: 'RegistryClient', type: 'function' },
  '@pd/image': { name: 'scratch', type: 'function' },
  '@pd/runner': { name: 'prepareBundle', type: 'function' },
  '@pd/conda': { name: 'buildCondaImage', type: 'function' },
  '@pd/build': { name: 'buildImage', type: 'function' },
  '@pd/sbom': { name: 'sbomOf', type: 'function' },
};

/**
 * Per library: what its README example needs from this machine (undefined: nothing), and a line
 * of what it prints that shows it did its work.
 */
const EXAMPLES: Record<string, { needs: () => string | undefined; prints: string }> = {
  '@pd/oci-types': { needs: () => undefined, prints: 'docker.io/library/ubuntu:24.04' },
  '@pd/tar': { needs: () => undefined, prints: 'port=9090' },
  '@pd/registry': { needs: registryMissing, prints: 'config true' },
  '@pd/image': { needs: registryMissing, prints: 'pushed true v1' },
  '@pd/runner': { needs: runcMissing, prints: 'exit 7 unpacked 0' },
  '@pd/conda': { needs: condaToolsMissing, prints: '3 layers' },
  '@pd/build': { needs: () => undefined, prints: '2 layers' },
  '@pd/sbom': { needs: () => undefined, prints: 'pkg:pypi/six@1.16.0 MIT' },
};

/** The README's example (the first ts block under "## Example"), as the JavaScript a user runs. */
async function readmeExample(pkg: string): Promise<string> {
  const dir = publishedPackages().find((p) => p.manifest.name === pkg)!.dir;
  const readme = await readFile(join(ROOT, dir, 'README.md'), 'utf8');
  const code = /## Example\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!code) throw new Error(`${pkg}: README has no ts example under "## Example"`);
  return (await transform(code, { loader: 'ts', format: 'esm' })).code;
}

const node = (args: string[], cwd: string) =>
  run(process.execPath, args, { cwd, maxBuffer: 16 << 20, timeout: 120_000 });

describe('published to a real npm registry (verdaccio) and installed with plain npm', () => {
  let registry: NpmRegistry;
  let work: string;
  const version = publishedPackages()[0]!.manifest.version;
  /** Each library installed alone, in a directory of its own (npm init's CommonJS package.json). */
  const dirs = new Map<string, string>();
  /** What the README examples talk to: a CNCF registry with a base image, a conda channel. */
  let oci: RunningRegistry | undefined;
  let channel: ServedCondaChannel | undefined;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pd-consumers-'));
    if (!registryMissing()) {
      oci = await startRegistry();
      const base = await Image.scratch();
      await base.addLayerContents({ '/etc/base': 'a base layer for the example to remove\n' });
      await base.push(`${oci.host}/consumers/base:1`);
    }
    if (!condaToolsMissing()) {
      const built = await buildCondaChannel(join(work, 'channel'), condaFixturePackages());
      channel = await serveCondaChannel(built.dir, 'fixture');
    }
    registry = await startVerdaccio();
    await publishWorkspace(registry);
    await Promise.all(
      Object.keys(PROBES).map(async (pkg) => {
        dirs.set(pkg, await installFresh(registry, [`${pkg}@${version}`], { parent: work }));
      }),
    );
  }, 400_000);
  afterAll(async () => {
    await registry?.stop();
    await oci?.stop();
    await channel?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('every package is served, at the one version of the release', async () => {
    for (const p of publishedPackages()) {
      const res = await fetch(`${registry.url}${p.manifest.name.replace('/', '%2f')}`);
      const packument = (await res.json()) as { 'dist-tags': { latest: string } };
      expect(packument['dist-tags'].latest, p.manifest.name).toBe(version);
    }
  });

  describe.each(Object.entries(PROBES))('%s, installed alone', (pkg, probe) => {
    let dir: string;
    beforeAll(() => {
      dir = dirs.get(pkg)!;
    });

    it('loads from ESM, from CommonJS (require), and bundled by esbuild', async () => {
      await writeFile(
        join(dir, 'esm.mjs'),
        `import { ${probe.name} } from '${pkg}';\nconsole.log(typeof ${probe.name});\n`,
      );
      await writeFile(
        join(dir, 'cjs.cjs'),
        `const { ${probe.name} } = require('${pkg}');\nconsole.log(typeof ${probe.name});\n`,
      );
      expect((await node(['esm.mjs'], dir)).stdout).toBe(`${probe.type}\n`);
      const cjs = await node(['cjs.cjs'], dir);
      expect(cjs.stdout).toBe(`${probe.type}\n`);
      expect(cjs.stderr).toBe(''); // no ExperimentalWarning for require(esm)

      // A plain esbuild bundle (CommonJS output, esbuild's default for node), run with no node_modules.
      const out = await mkdtemp(join(work, 'bundle-'));
      await build({
        entryPoints: [join(dir, 'esm.mjs')],
        outfile: join(out, 'app.cjs'),
        bundle: true,
        platform: 'node',
        logLevel: 'silent',
        // The optional peers @pd/build imports only for conda sections and run: steps, not installed here.
        ...(pkg === '@pd/build' ? { external: ['@pd/conda', '@pd/runner'] } : {}),
      });
      expect(noNodeModulesAbove(out)).toBe(true);
      expect((await node(['app.cjs'], out)).stdout).toBe(`${probe.type}\n`);
    });

    it.skipIf(EXAMPLES[pkg]!.needs())(
      'its README example runs here, with nothing from the repository',
      async () => {
        await writeFile(join(dir, 'readme.mjs'), await readmeExample(pkg));
        const out = await mkdtemp(join(work, 'example-'));
        const env = {
          ...process.env,
          PD_CACHE_DIR: join(out, 'cache'),
          OUT: join(out, 'out.tar'),
          ...(oci ? { REGISTRY: oci.host, BASE: `${oci.host}/consumers/base:1` } : {}),
          ...(channel ? { CONDA_CHANNEL: channel.url } : {}),
        };
        if (pkg === '@pd/image') env.OUT = out; // a directory: the example names its file
        const { stdout } = await run(process.execPath, ['readme.mjs'], { cwd: dir, env, timeout: 180_000 });
        expect(stdout).toContain(EXAMPLES[pkg]!.prints);
      },
      240_000,
    );

    if (pkg === '@pd/tar') {
      it('compresses zstd with the library it carries (no zstd package installed)', async () => {
        expect(existsSync(join(dir, 'node_modules', '@bokuweb'))).toBe(false);
        const code = `const { compressLayer, tarContents } = require('@pd/tar');
const { stream, result } = compressLayer(tarContents({ '/a': 'pd' }), { compression: 'zstd' });
stream.resume();
result.then((i) => console.log(i.mediaType));`;
        await writeFile(join(dir, 'zstd.cjs'), code);
        expect((await node(['zstd.cjs'], dir)).stdout).toBe('application/vnd.oci.image.layer.v1.tar+zstd\n');
      });
    }

    if (pkg === '@pd/registry') {
      it('has no @pd/tar, and the newest undici of its range still has the modules the transport loads', async () => {
        expect(existsSync(join(dir, 'node_modules', '@pd', 'tar'))).toBe(false);
        const code = `const undici = require('undici');
const Agent = require('undici/lib/dispatcher/agent.js');
const request = require('undici/lib/api/api-request.js');
console.log(Agent === undici.Agent && request === undici.Dispatcher.prototype.request);`;
        await writeFile(join(dir, 'undici.cjs'), code);
        expect((await node(['undici.cjs'], dir)).stdout).toBe('true\n');
      });
    }

    if (pkg === '@pd/build') {
      it('builds without @pd/conda and @pd/runner installed; a conda section or run: step asks for them', async () => {
        expect(existsSync(join(dir, 'node_modules', '@pd', 'conda'))).toBe(false);
        expect(existsSync(join(dir, 'node_modules', '@pd', 'runner'))).toBe(false);
        const code = `import { buildImage, parseSpec } from '@pd/build';
const plain = await buildImage(parseSpec('files:\\n  - { path: /a, content: x }\\n'), { baseDir: '.' });
console.log((await plain.manifest()).layers.length);
for (const spec of ['conda:\\n  specs: [x]\\n', 'run: ["true"]\\n']) {
  try {
    await buildImage(parseSpec(spec), { baseDir: '.' });
  } catch (e) {
    console.log(e.code);
  }
}`;
        await writeFile(join(dir, 'conda.mjs'), code);
        expect((await node(['conda.mjs'], dir)).stdout).toBe('1\nPD_CONDA_MISSING\nPD_RUNNER_MISSING\n');
      });
    }
  });

  // One tsc run per resolution mode over every package's directory: each file resolves the
  // package from its own directory's node_modules, as in a project that has only that package.
  it('every library type-checks strict from TypeScript: NodeNext (CommonJS and ESM output, run) and bundler', async () => {
    const nodenext: string[] = [];
    const bundler: string[] = [];
    for (const [pkg, probe] of Object.entries(PROBES)) {
      const dir = dirs.get(pkg)!;
      const use = `import { ${probe.name} } from '${pkg}';\nconst probe: typeof ${probe.name} = ${probe.name};\nconsole.log(typeof probe);\n`;
      await writeFile(join(dir, 'cjs.ts'), use);
      await writeFile(join(dir, 'esm.mts'), use);
      await writeFile(join(dir, 'bundler.ts'), use);
      nodenext.push(join(dir, 'cjs.ts'), join(dir, 'esm.mts'));
      bundler.push(join(dir, 'bundler.ts'));
    }
    const common = { strict: true, skipLibCheck: true, types: ['node'], typeRoots: [NODE_TYPES] };
    await writeFile(
      join(work, 'tsconfig.nodenext.json'),
      JSON.stringify({
        compilerOptions: { ...common, module: 'nodenext', moduleResolution: 'nodenext' },
        files: nodenext,
      }),
    );
    await writeFile(
      join(work, 'tsconfig.bundler.json'),
      JSON.stringify({
        compilerOptions: { ...common, module: 'preserve', moduleResolution: 'bundler', noEmit: true },
        files: bundler,
      }),
    );
    for (const config of ['tsconfig.nodenext.json', 'tsconfig.bundler.json']) {
      const r = await node([TSC, '-p', config], work).catch((e: { stdout: string }) => e);
      expect(r.stdout, config).toBe('');
    }
    for (const [pkg, probe] of Object.entries(PROBES)) {
      const dir = dirs.get(pkg)!;
      // The package is "type": "commonjs" (npm init's default): cjs.ts became require().
      expect(await readFile(join(dir, 'cjs.js'), 'utf8')).toContain(`require("${pkg}")`);
      expect((await node(['cjs.js'], dir)).stdout, pkg).toBe(`${probe.type}\n`);
      expect((await node(['esm.mjs'], dir)).stdout, pkg).toBe(`${probe.type}\n`);
    }
  }, 240_000);

  describe('@pd/cli', () => {
    let pd: string;
    beforeAll(async () => {
      const prefix = await mkdtemp(join(work, 'prefix-'));
      await registry.npm(['install', '-g', '--prefix', prefix, `@pd/cli@${version}`]);
      pd = join(prefix, 'bin', 'pd');
    }, 240_000);

    it('installs globally into a prefix; `pd --help` and `pd version` run', async () => {
      const help = await run(pd, ['--help'], { cwd: work });
      expect(help.stdout).toMatch(/pull/);
      expect(help.stdout).toMatch(/push/);
      expect((await run(pd, ['version'], { cwd: work })).stdout).toMatch(new RegExp(`^pd ${version}`));
    }, 240_000);

    it.skipIf(registryMissing())(
      'the global pd builds, pushes to and pulls from the real registry',
      async () => {
        const prefix = await mkdtemp(join(work, 'prefix-pull-'));
        await registry.npm(['install', '-g', '--prefix', prefix, `@pd/cli@${version}`]);
        const pd = join(prefix, 'bin', 'pd');
        const oci = await startRegistry();
        try {
          const dir = await mkdtemp(join(work, 'pull-'));
          const env = { ...process.env, PD_CACHE_DIR: join(dir, 'cache') };
          await writeFile(join(dir, 'pd.yaml'), 'files:\n  - { path: /hello, content: "hi\\n" }\n');
          await run(pd, ['build', 'pd.yaml', '-o', 'img.tar'], { cwd: dir, env });
          const ref = `${oci.host}/consumers/hello:1`;
          await run(pd, ['push', 'img.tar', ref], { cwd: dir, env });
          const pulled = await run(pd, ['pull', ref, '-o', 'pulled.tar', '--json'], { cwd: dir, env });
          const pushed = (await run(pd, ['digest', ref], { cwd: dir, env })).stdout.trim();
          expect(pushed).toMatch(/^sha256:[0-9a-f]{64}$/);
          expect(JSON.parse(pulled.stdout).digest).toBe(pushed);
          expect(existsSync(join(dir, 'pulled.tar'))).toBe(true);
        } finally {
          await oci.stop();
        }
      },
      240_000,
    );

    it('`npx @pd/cli version` runs from an empty directory', async () => {
      const dir = await mkdtemp(join(work, 'npx-'));
      const { stdout } = await run('npx', ['--yes', `@pd/cli@${version}`, 'version'], {
        cwd: dir,
        env: registry.env,
        timeout: 180_000,
      });
      expect(stdout).toMatch(new RegExp(`^pd ${version}`));
    }, 240_000);
  });
});
