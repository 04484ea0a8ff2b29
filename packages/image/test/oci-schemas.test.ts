/**
 * Everything pd writes in OCI form validates against the official OCI JSON schemas (the
 * image-spec's schema/*.json, loaded from the installed image-spec source): OCI layouts and
 * archives written from Docker-format sources (including a Docker config full of `null`s, as
 * `docker import` writes it), appended, edited, flattened and scratch-built images, indexes, and
 * manifests pushed to a registry. Every manifest, index and config reachable from index.json is
 * checked, plus index.json and oci-layout themselves.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MediaType, parseDigest } from '@pd/oci-types';
import { RegistryClient } from '@pd/registry';
import {
  busyboxRootfsTar,
  docker,
  type Fixtures,
  fixtureImages,
  IMAGE_SPEC_SCHEMA_DIR,
  imageSpecMissing,
  type RunningRegistry,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Image, openImage, readDockerArchive, writeOciArchive, writeOciLayout } from '../src/index.js';
import { cleanupTempDirs, dockerRemove, dockerSave, tempDir } from './formats/helpers.js';
import { fixturesMissing } from './helpers.js';
import { loadOciSchemas, type OciSchemas, type SchemaName } from './oci-schemas.js';

const skip = imageSpecMissing() ?? fixturesMissing();

interface Checked {
  /** Documents validated, by schema. */
  counts: Partial<Record<SchemaName, number>>;
  /** `where: problem` lines; empty when everything is valid. */
  problems: string[];
}

interface Descriptorish {
  mediaType: string;
  digest: string;
}

const DOCKER_TYPES = new Set<string>([
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
  MediaType.DockerConfig,
]);

/** Validate one JSON document and everything it points to that is a manifest, index or config. */
async function walk(
  schemas: OciSchemas,
  d: Descriptorish,
  read: (d: Descriptorish) => Promise<Buffer>,
  where: string,
  out: Checked,
): Promise<void> {
  const check = (name: SchemaName, doc: unknown, at: string) => {
    out.counts[name] = (out.counts[name] ?? 0) + 1;
    for (const p of schemas.problems(name, doc)) out.problems.push(`${at} (${name} schema): ${p}`);
  };
  const at = `${where} ${d.mediaType} ${d.digest}`;
  if (DOCKER_TYPES.has(d.mediaType)) {
    out.problems.push(`${at}: a Docker media type where pd writes OCI`);
    return;
  }
  if (d.mediaType === MediaType.OciManifest) {
    const manifest = JSON.parse((await read(d)).toString()) as { config: Descriptorish };
    check('manifest', manifest, at);
    if (manifest.config.mediaType === MediaType.OciConfig) {
      check(
        'config',
        JSON.parse((await read(manifest.config)).toString()),
        `${at} → config ${manifest.config.digest}`,
      );
    } else if (DOCKER_TYPES.has(manifest.config.mediaType)) {
      out.problems.push(`${at}: config has the Docker media type ${manifest.config.mediaType}`);
    }
  } else if (d.mediaType === MediaType.OciIndex) {
    const index = JSON.parse((await read(d)).toString()) as { manifests: Descriptorish[] };
    check('index', index, at);
    for (const child of index.manifests) await walk(schemas, child, read, `${where} → child`, out);
  }
}

async function checkLayout(schemas: OciSchemas, dir: string): Promise<Checked> {
  const out: Checked = { counts: {}, problems: [] };
  const json = async (path: string) => JSON.parse(await readFile(join(dir, path), 'utf8')) as unknown;
  const layout = await json('oci-layout');
  out.counts.layout = 1;
  for (const p of schemas.problems('layout', layout)) out.problems.push(`oci-layout: ${p}`);
  const index = (await json('index.json')) as { manifests: Descriptorish[] };
  out.counts.index = 1;
  for (const p of schemas.problems('index', index)) out.problems.push(`index.json: ${p}`);
  const read = (d: Descriptorish) => {
    const { algorithm, hex } = parseDigest(d.digest);
    return readFile(join(dir, 'blobs', algorithm, hex));
  };
  for (const d of index.manifests) await walk(schemas, d, read, `${dir} index.json →`, out);
  return out;
}

const run = promisify(execFile);

describe.skipIf(skip)('what pd writes validates against the official OCI JSON schemas', () => {
  let schemas: OciSchemas;
  let registry: RunningRegistry;
  let fx: Fixtures;
  let dir: string;
  let saved: string;
  // docker import with no --change: a config whose Env, Cmd, Entrypoint, Volumes, OnBuild and
  // Labels are all null (the OCI schema wants Env as an array).
  const nullTag = `pd-schemas/null-config:${process.pid}`;

  beforeAll(async () => {
    schemas = loadOciSchemas(IMAGE_SPEC_SCHEMA_DIR);
    registry = await startRegistry();
    fx = await fixtureImages(registry);
    dir = await tempDir('pd-oci-schemas-');
    const rootfs = join(dir, 'rootfs.tar');
    await busyboxRootfsTar(rootfs);
    await docker(['import', rootfs, nullTag]);
    saved = join(dir, 'saved.tar');
    await dockerSave(saved, [fx.small.local, fx.layered.local, nullTag]);
  }, 900_000);

  afterAll(async () => {
    await dockerRemove([nullTag]);
    await registry?.stop();
    await cleanupTempDirs();
  });

  test('the Docker config really has nulls (the input this test is about)', async () => {
    const config = JSON.parse(
      Buffer.from(await (await readDockerArchive(saved, { tag: nullTag })).rawConfig()).toString(),
    ) as { config: Record<string, unknown> };
    expect(config.config.Env).toBeNull();
    expect(config.config.Cmd).toBeNull();
  });

  test('a docker archive written as an OCI layout, image by image', async () => {
    const layout = join(dir, 'from-docker');
    for (const [tag, name] of [
      [fx.small.local, 'small'],
      [fx.layered.local, 'layered'],
    ] as const) {
      await writeOciLayout(layout, await readDockerArchive(saved, { tag }), { tag: name });
    }
    const got = await checkLayout(schemas, layout);
    expect(got.problems).toEqual([]);
    expect(got.counts.manifest).toBe(2);
    expect(got.counts.config).toBe(2);
  });

  test('an image whose Docker config holds nulls (Env, Cmd, Labels...), as OCI', async () => {
    const layout = join(dir, 'nulls');
    await writeOciLayout(layout, await readDockerArchive(saved, { tag: nullTag }), { tag: 'nulls' });
    const edited = await Image.fromFile(saved, { tag: nullTag });
    edited.editConfig({ workingDir: '/srv' });
    await edited.write(layout, { format: 'oci-layout', tags: ['edited'] });
    const got = await checkLayout(schemas, layout);
    expect(got.problems).toEqual([]);
    expect(got.counts.config).toBe(2);
  });

  test('appended, edited, flattened and scratch-built images', async () => {
    const layout = join(dir, 'mutated');
    const appended = await Image.fromFile(saved, { tag: fx.small.local });
    await appended.addLayerContents({ 'app/main.js': 'console.log(1)\n' });
    appended.setEnv('APP', 'on').editConfig({
      cmd: ['node', '/app/main.js'],
      entrypoint: null,
      labels: { 'org.example': 'x' },
      exposedPorts: ['8080/tcp'],
      volumes: ['/data'],
      history: 'pd: set the command',
    });
    await appended.write(layout, { format: 'oci-layout', tags: ['appended'] });

    const flat = await Image.fromFile(saved, { tag: fx.layered.local });
    await flat.flatten();
    await flat.write(layout, { format: 'oci-layout', tags: ['flat'] });

    const built = await Image.scratch();
    await built.addLayerContents({ 'hello.txt': 'hello\n' });
    built.setEnv('PATH', '/bin');
    await built.write(layout, { format: 'oci-layout', tags: ['scratch'] });

    const got = await checkLayout(schemas, layout);
    expect(got.problems).toEqual([]);
    expect(got.counts.manifest).toBe(3);
    expect(got.counts.config).toBe(3);
  });

  test('indexes: a Docker manifest list and an OCI index from a registry, written as a layout', async () => {
    const layout = join(dir, 'indexes');
    const list = await openImage(`docker://${fx.multiArch.list.ref}`, { platform: 'all' });
    await writeOciLayout(layout, list, { tag: 'from-list' });
    const index = await openImage(`docker://${fx.multiArch.index.ref}`, { platform: 'all' });
    await writeOciLayout(layout, index, { tag: 'from-index' });
    const got = await checkLayout(schemas, layout);
    expect(got.problems).toEqual([]);
    // index.json plus the two indexes, each with one manifest and config per platform.
    const platforms = fx.multiArch.platforms.length;
    expect(got.counts.index).toBe(3);
    expect(got.counts.manifest).toBe(2 * platforms);
    expect(got.counts.config).toBe(2 * platforms);
  });

  test('an OCI archive', async () => {
    const archive = join(dir, 'nulls.oci.tar');
    await writeOciArchive(archive, await readDockerArchive(saved, { tag: nullTag }), { tag: 'nulls' });
    const extracted = join(dir, 'nulls-archive');
    await mkdir(extracted);
    await run('tar', ['-xf', archive, '-C', extracted]);
    const got = await checkLayout(schemas, extracted);
    expect(got.problems).toEqual([]);
    expect(got.counts.config).toBe(1);
  });

  test('manifests and configs pushed to a registry in OCI form', async () => {
    const image = await Image.fromFile(saved, { tag: nullTag });
    image.convert('oci');
    const pushed = await image.push(`${registry.host}/schemas/nulls:oci`);
    const client = new RegistryClient({ dockerConfig: false });
    try {
      const repo = `${registry.host}/schemas/nulls`;
      const read = async (d: Descriptorish) => {
        if (d.mediaType === MediaType.OciManifest || d.mediaType === MediaType.OciIndex) {
          return Buffer.from((await client.getManifest(`${repo}@${d.digest}`)).bytes);
        }
        const chunks: Buffer[] = [];
        for await (const c of await client.getBlob(repo, d.digest)) chunks.push(c as Buffer);
        return Buffer.concat(chunks);
      };
      const out: Checked = { counts: {}, problems: [] };
      await walk(schemas, { mediaType: pushed.mediaType, digest: pushed.digest }, read, repo, out);
      expect(out.problems).toEqual([]);
      expect(out.counts).toEqual({ manifest: 1, config: 1 });
    } finally {
      await client.close();
    }
  });
});
