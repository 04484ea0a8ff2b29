import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  BASE_IMAGE,
  buildCondaChannel,
  buildImage,
  condaFixturePackages,
  condaToolsMissing,
  docker,
  dockerMissing,
  importBase,
  isRoot,
  missingTools,
  pushImage,
  type RunningRegistry,
  registryMissing,
  type ServedCondaChannel,
  serveCondaChannel,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The validators of @pd/sbom's own tests: the CycloneDX schema of @cyclonedx/cyclonedx-library,
// and the SPDX 2.3 checks (no package ships the SPDX schema; see that file).
import { cyclonedxProblems, spdxProblems } from '../../../packages/sbom/test/schemas.js';
import { isolatedEnv, pd } from './helpers.js';

const execFileP = promisify(execFile);
const missing = registryMissing() ?? dockerMissing();

type Doc = Record<string, unknown>;
interface SpdxPackage {
  name: string;
  versionInfo?: string;
  externalRefs?: Array<{ referenceType: string; referenceLocator: string }>;
}
interface CdxComponent {
  name: string;
  version?: string;
  purl?: string;
}

const purlOf = (p: SpdxPackage) =>
  p.externalRefs?.find((r) => r.referenceType === 'purl')?.referenceLocator ?? '';
/** `NAME VERSION` of the SPDX packages whose purl is of `type`, sorted. */
const spdxPackages = (doc: Doc, type: string) =>
  (doc.packages as SpdxPackage[])
    .filter((p) => purlOf(p).startsWith(`pkg:${type}/`))
    .map((p) => `${p.name} ${p.versionInfo}`)
    .sort();
const cdxPackages = (doc: Doc, type: string) =>
  (doc.components as CdxComponent[])
    .filter((c) => c.purl?.startsWith(`pkg:${type}/`))
    .map((c) => `${c.name} ${c.version}`)
    .sort();
/** `name-version-build` of the conda packages, as conda-meta names their records. */
const condaStems = (doc: Doc) =>
  (doc.components as CdxComponent[])
    .filter((c) => c.purl?.startsWith('pkg:conda/'))
    .map((c) => `${c.name}-${c.version}-${new URLSearchParams(c.purl!.split('?')[1]).get('build')}`)
    .sort();

describe.skipIf(
  missing ?? missingTools('debootstrap', 'tar') ?? (isRoot ? undefined : 'skipped: debootstrap needs root'),
)('pd sbom of a Debian image made by debootstrap', () => {
  let registry: RunningRegistry;
  let ref: string;
  const iso = isolatedEnv();
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    pd(args, { env: { ...iso.env, ...env }, cwd: iso.dir, timeout: 180_000 });

  beforeAll(async () => {
    registry = await startRegistry();
    const root = join(iso.dir, 'rootfs');
    // Debian's mirror, as a user would; minbase is the smallest system with dpkg and apt.
    await execFileP('debootstrap', ['--variant=minbase', 'bookworm', root, 'http://deb.debian.org/debian'], {
      timeout: 900_000,
      maxBuffer: 64 << 20,
    });
    const tar = join(iso.dir, 'rootfs.tar');
    await execFileP('tar', ['--numeric-owner', '-C', root, '-cf', tar, '.'], { timeout: 300_000 });
    await docker(['import', tar, 'pd-test/debootstrap:bookworm'], { timeout: 600_000 });
    ref = (await pushImage('pd-test/debootstrap:bookworm', registry, 'debian/bookworm', 'minbase')).ref;
  }, 1_200_000);
  afterAll(async () => {
    await registry?.stop();
    iso.cleanup();
  });

  it('lists exactly the packages dpkg-query -W lists inside the container, in both formats', async () => {
    const inside = await docker([
      'run',
      '--rm',
      '--pull',
      'always',
      '--network',
      'none',
      ref,
      'dpkg-query',
      '-W',
      '-f',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
      '${Package} ${Version}\\n',
    ]);
    const expected = inside.stdout.trim().split('\n').sort();
    expect(expected.length).toBeGreaterThan(50);

    const spdx = await run(['sbom', ref]);
    expect(spdx.stderr).toBe('');
    expect(spdx.code).toBe(0);
    const doc = JSON.parse(spdx.stdout) as Doc;
    expect(spdxProblems(doc)).toEqual([]);
    expect(spdxPackages(doc, 'deb')).toEqual(expected);
    const os = (doc.packages as Array<Record<string, unknown>>).find(
      (p) => p.primaryPackagePurpose === 'OPERATING-SYSTEM',
    );
    expect(os).toMatchObject({ name: 'debian', versionInfo: '12' });
    expect(purlOf((doc.packages as SpdxPackage[]).find((p) => p.name === 'dpkg')!)).toMatch(
      /^pkg:deb\/debian\/dpkg@[^?]+\?arch=amd64&distro=debian-12$/,
    );

    const file = join(iso.dir, 'bookworm.cdx.json');
    const cdx = await run(['sbom', ref, '--format', 'cyclonedx-json', '-o', file, '--json']);
    expect(cdx.code).toBe(0);
    const summary = JSON.parse(cdx.stdout) as { packages: number; format: string; path: string };
    expect(summary).toMatchObject({ format: 'cyclonedx-json', path: file, packages: expected.length });
    const bom = JSON.parse(readFileSync(file, 'utf8')) as Doc;
    expect(cyclonedxProblems(bom)).toEqual([]);
    expect(cdxPackages(bom, 'deb')).toEqual(expected);
  });

  it('gives the same bytes twice, dated by the image, or by SOURCE_DATE_EPOCH when set', async () => {
    const [a, b] = await Promise.all([run(['sbom', ref]), run(['sbom', ref])]);
    expect(a.code).toBe(0);
    expect(b.stdoutBytes.equals(a.stdoutBytes)).toBe(true);
    const created = (JSON.parse((await run(['inspect', ref])).stdout) as { created: string }).created;
    const info = (JSON.parse(a.stdout) as { creationInfo: { created: string } }).creationInfo;
    expect(info.created).toBe(created.replace(/\.\d+Z$/, 'Z'));
    const dated = await run(['sbom', ref], { SOURCE_DATE_EPOCH: '1700000000' });
    expect((JSON.parse(dated.stdout) as { creationInfo: { created: string } }).creationInfo.created).toBe(
      '2023-11-14T22:13:20Z',
    );
  });
});

describe.skipIf(missing ?? condaToolsMissing())('pd sbom of a conda image built by pd', () => {
  let registry: RunningRegistry;
  let channel: ServedCondaChannel;
  let base: string;
  const iso = isolatedEnv();
  const run = (args: string[]) => pd(args, { env: iso.env, cwd: iso.dir, timeout: 180_000 });
  /** What `ls conda-meta` shows inside the container, as `name-version-build`. */
  const condaMetaInside = async (image: string) =>
    (await docker(['run', '--rm', '--network', 'none', image, 'ls', '/opt/conda/conda-meta'])).stdout
      .split('\n')
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
      .sort();

  beforeAll(async () => {
    registry = await startRegistry();
    const built = await buildCondaChannel(join(iso.dir, 'channel'), condaFixturePackages());
    channel = await serveCondaChannel(built.dir, 'fixture');
    await importBase();
    base = (await pushImage(BASE_IMAGE, registry, 'base/busybox')).ref;
    const r = await run([
      'conda',
      'build',
      '-b',
      base,
      '-i',
      'pd-test/sbom-conda:1',
      '-o',
      join(iso.dir, 'env.tar'),
      '-c',
      channel.url,
      'hello=2.0',
    ]);
    if (r.code !== 0) throw new Error(`pd conda build failed: ${r.stderr}`);
    await docker(['load', '-i', join(iso.dir, 'env.tar')]);
  });
  afterAll(async () => {
    await Promise.all([registry?.stop(), channel?.stop()]);
    iso.cleanup();
  });

  it('lists the packages of conda-meta, with conda purls', async () => {
    const r = await run(['sbom', join(iso.dir, 'env.tar'), '--format', 'cyclonedx-json']);
    expect(r.code).toBe(0);
    const bom = JSON.parse(r.stdout) as Doc;
    expect(cyclonedxProblems(bom)).toEqual([]);
    const inside = await condaMetaInside('pd-test/sbom-conda:1');
    expect(inside).toEqual(['hello-2.0-h0000000_0', 'sh-1.0-h0000000_0']);
    expect(condaStems(bom)).toEqual(inside);
    const hello = (bom.components as CdxComponent[]).find((c) => c.name === 'hello')!;
    expect(hello.purl).toMatch(
      /^pkg:conda\/hello@2\.0\?build=h0000000_0&channel=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Ffixture&subdir=[a-z0-9-]+&type=/,
    );

    const spdx = await run(['sbom', join(iso.dir, 'env.tar')]);
    const doc = JSON.parse(spdx.stdout) as Doc;
    expect(spdxProblems(doc)).toEqual([]);
    expect(spdxPackages(doc, 'conda')).toEqual(['hello 2.0', 'sh 1.0']);
  });

  it('honours a whiteout: a layer that deletes a conda-meta record (docker build, RUN rm) drops the package', async () => {
    await buildImage({
      tag: 'pd-test/sbom-conda-rm:1',
      base: 'pd-test/sbom-conda:1',
      steps: ['RUN rm /opt/conda/conda-meta/hello-2.0-h0000000_0.json'],
    });
    const tar = join(iso.dir, 'rm.tar');
    await docker(['save', '-o', tar, 'pd-test/sbom-conda-rm:1']);
    // The layer docker made holds the whiteout; the record itself is still in the layer below.
    const manifest = JSON.parse((await execFileP('tar', ['-xOf', tar, 'manifest.json'])).stdout) as Array<{
      Layers: string[];
    }>;
    const top = manifest[0]!.Layers.at(-1)!;
    const listed = await execFileP('sh', ['-c', `tar -xOf "$0" "$1" | tar -t`, tar, top]);
    expect(listed.stdout.split('\n')).toContain('opt/conda/conda-meta/.wh.hello-2.0-h0000000_0.json');
    const r = await run(['sbom', tar, '--format', 'cyclonedx-json']);
    expect(r.code).toBe(0);
    const inside = await condaMetaInside('pd-test/sbom-conda-rm:1');
    expect(inside).toEqual(['sh-1.0-h0000000_0']);
    expect(condaStems(JSON.parse(r.stdout) as Doc)).toEqual(inside);
  });

  it('an image without package records gives a valid document that lists none; a bad format is refused', async () => {
    const r = await run(['sbom', base]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(spdxProblems(doc)).toEqual([]);
    expect((doc.packages as SpdxPackage[]).map((p) => p.name)).toEqual([base]);
    const bad = await run(['sbom', base, '--format', 'spdx-tag']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe('pd: option --format must be one of spdx-json, cyclonedx-json');
    expect(bad.stdout).toBe('');
  });
});
