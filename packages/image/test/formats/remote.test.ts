import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaType } from '@pd/oci-types';
import { RegistryClient } from '@pd/registry';
import {
  docker,
  dockerMissing,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  skopeo,
  skopeoMissing,
  startRegistry,
  umoci,
  umociMissing,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  readDockerArchive,
  readOciArchive,
  readOciLayout,
  writeDockerArchive,
  writeOciArchive,
  writeOciLayout,
} from '../../src/formats/index.js';
import type { Image, ImageIndex } from '../../src/model.js';
import { hasNullFields, withoutNullFields } from '../../src/mutate/null-fields.js';
import * as remote from '../../src/remote.js';
import { cleanupTempDirs, dockerRemove, randomTag, readText, streamToBuffer, tempDir } from './helpers.js';

const skip = dockerMissing() ?? registryMissing() ?? skopeoMissing();

/** Images pulled lazily by the core's remote source, written by the format sinks. */
describe.skipIf(skip)('registry images written to files', () => {
  let registry: RunningRegistry;
  let fx: Fixtures;
  let dir: string;
  let client: RegistryClient;
  const loaded: string[] = [];
  const pull = (ref: string) => remote.image(ref, { client, cache: false });

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
    dir = await tempDir();
    client = new RegistryClient({ dockerConfig: false });
  }, 900_000);

  afterAll(async () => {
    await dockerRemove(loaded);
    await client?.close();
    await registry?.stop();
    await cleanupTempDirs();
  });

  test('docker schema 2 image with gzip layers → both archive layouts, loaded and read back', async () => {
    const image = await pull(fx.withUser.ref);
    expect(await image.mediaType()).toBe(MediaType.DockerManifest);
    for (const layout of ['classic', 'combined'] as const) {
      const id = randomTag();
      const tag = `pd-formats/remote:${layout}-${id}`;
      const out = join(dir, `remote-${layout}.tar`);
      await writeDockerArchive(out, [{ image, tags: [tag] }], { layout });
      loaded.push(tag);
      expect((await docker(['load', '-i', out])).stdout).toContain(`Loaded image: ${tag}`);
      const run = await docker([
        'run',
        '--rm',
        '--network',
        'none',
        '--entrypoint',
        'cat',
        tag,
        '/usr/local/bin/entrypoint.sh',
      ]);
      expect(run.stdout).toBe(fx.withUser.files['/usr/local/bin/entrypoint.sh']);
      // skopeo decompresses every member and checks it against the config's diffIDs.
      await skopeo(['copy', '-q', `docker-archive:${out}`, `dir:${join(dir, `skopeo-${layout}`)}`]);
      const back = await readDockerArchive(out);
      expect(await Promise.all((await back.layers()).map((l) => l.digest()))).toEqual(
        fx.withUser.layers.map((l) => l.digest),
      );
      expect(await back.configDigest()).toBe(fx.withUser.configDigest);
      if (layout === 'combined') {
        // Its OCI view holds the OCI form of the registry's schema 2 manifest (same blobs), which
        // skopeo finds by ref name and pd's docker-archive reader picks up as the stored manifest.
        expect(await back.mediaType()).toBe(MediaType.OciManifest);
        expect(await back.digest()).not.toBe(fx.withUser.digest);
        const oci = JSON.parse((await skopeo(['inspect', `oci-archive:${out}:${layout}-${id}`])).stdout) as {
          Digest: string;
          Layers: string[];
        };
        expect(oci.Digest).toBe(await back.digest());
        expect(oci.Layers).toEqual(fx.withUser.layers.map((l) => l.digest));
      }
    }
  });

  test('OCI layout of a pulled schema 2 image: OCI manifests by default, byte for byte on request', async () => {
    const image = await pull(fx.layered.ref);
    const layout = join(dir, 'remote-layout');
    const entry = await writeOciLayout(layout, image, { tag: 'layered' });
    expect(entry.mediaType).toBe(MediaType.OciManifest);
    const inspected = JSON.parse((await skopeo(['inspect', `oci:${layout}:layered`])).stdout) as {
      Digest: string;
      Layers: string[];
    };
    expect(inspected.Digest).toBe(entry.digest);
    expect(inspected.Layers).toEqual(fx.layered.layers.map((l) => l.digest));
    const back = (await readOciLayout(layout, { ref: 'layered' })) as Image;
    // The Docker config's nulls cannot go into an OCI config: dropped, everything else kept.
    const source = await image.config();
    const written = await back.config();
    expect(written).toEqual(withoutNullFields(source));
    expect(Buffer.from(await back.rawConfig()).toString()).not.toMatch(/:null\b/);
    if (!hasNullFields(source)) expect(await back.configDigest()).toBe(fx.layered.configDigest);
    for (const [i, l] of (await back.layers()).entries()) {
      expect(await l.mediaType()).toBe(MediaType.OciLayerGzip);
      expect(await l.diffId()).toBe(fx.layered.layers[i]!.diffId);
      expect((await streamToBuffer(await l.uncompressed())).length).toBeGreaterThan(0);
    }
    if (!umociMissing()) {
      const bundle = join(dir, 'remote-bundle');
      await umoci(['unpack', '--rootless', '--image', `${layout}:layered`, bundle]);
      expect(await readText(join(bundle, 'rootfs', 'etc', 'app.conf'))).toBe(
        fx.layered.files['/etc/app.conf'],
      );
    }

    await writeOciLayout(layout, image, { tag: 'exact', manifests: 'keep' });
    const exact = (await readOciLayout(layout, { ref: 'exact' })) as Image;
    expect(await exact.digest()).toBe(fx.layered.digest);
    expect(Buffer.from(await exact.rawManifest()).equals(Buffer.from(await image.rawManifest()))).toBe(true);
    expect(await exact.configDigest()).toBe(fx.layered.configDigest);
    // Both entries share every layer blob (and the config, when it had no null to drop).
    const blobs = await readdir(join(layout, 'blobs', 'sha256'));
    const configs = hasNullFields(source) ? 2 : 1;
    expect(blobs).toHaveLength(fx.layered.layers.length + configs + 2);
  });

  test('a docker manifest list with its children → OCI archive (converted) or byte for byte', async () => {
    const list = (await remote.get(fx.multiArch.list.ref, { client, cache: false })) as ImageIndex;
    expect(list.kind).toBe('index');
    const out = join(dir, 'list.tar');
    const entry = await writeOciArchive(out, list, { tag: 'multi' });
    expect(entry.mediaType).toBe(MediaType.OciIndex);
    const raw = JSON.parse((await skopeo(['inspect', '--raw', `oci-archive:${out}:multi`])).stdout) as {
      manifests: Array<{ digest: string; mediaType: string; platform: { architecture: string } }>;
    };
    expect(raw.manifests.map((m) => [m.mediaType, m.platform.architecture])).toEqual(
      fx.multiArch.platforms.map((p) => [MediaType.OciManifest, p.architecture]),
    );
    await skopeo(['copy', '-q', '--all', `oci-archive:${out}:multi`, `oci:${join(dir, 'list-copy')}:multi`]);
    const back = (await readOciArchive(out)) as ImageIndex;
    expect(await back.digest()).toBe(entry.digest);
    for (const c of await back.children()) {
      const child = (await c.open()) as Image;
      expect(await child.mediaType()).toBe(MediaType.OciManifest);
      const platform = fx.multiArch.platforms.find(
        (p) => p.architecture === c.descriptor.platform?.architecture,
      )!;
      const tars = await Promise.all(
        (await child.layers()).map((l) => l.uncompressed().then(streamToBuffer)),
      );
      expect(tars.some((t) => t.includes(Buffer.from(platform.archFile)))).toBe(true);
    }

    const exactOut = join(dir, 'list-exact.tar');
    const exact = await writeOciArchive(exactOut, list, { tag: 'multi', manifests: 'keep' });
    expect(exact.digest).toBe(fx.multiArch.list.digest);
    const exactBack = (await readOciArchive(exactOut)) as ImageIndex;
    expect(Buffer.from(await exactBack.rawManifest()).equals(Buffer.from(await list.rawManifest()))).toBe(
      true,
    );
    expect((await exactBack.children()).map((c) => c.descriptor.digest).sort()).toEqual(
      fx.multiArch.platforms.map((p) => p.digest).sort(),
    );
  });
});
