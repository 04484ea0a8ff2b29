import { Readable } from 'node:stream';
import { type Digest, digestOf, type ImageConfig, MediaType } from '@pd/oci-types';
import { describe, expect, test } from 'vitest';
import { ComputedImage, serializeConfig } from './computed.js';
import { InconsistentImageError } from './errors.js';
import { verifiesItself } from './formats/verified-stream.js';
import { KnownLayer } from './layers/known.js';

const layer = (n: number, mediaType: string = MediaType.OciLayerGzip) =>
  new KnownLayer({
    digest: digestOf(`blob ${n}`),
    diffId: digestOf(`tar ${n}`),
    size: 100 + n,
    mediaType,
    open: async () => Readable.from([Buffer.from(`blob ${n}`)]),
  });

const configOf = (diffIds: Digest[]): ImageConfig => ({
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['A=1'] },
  rootfs: { type: 'layers', diff_ids: diffIds },
});

describe('ComputedImage', () => {
  test('a deterministic manifest from the layers metadata, in the chosen family', async () => {
    const layers = [layer(1), layer(2, MediaType.DockerLayerGzip)];
    // A KnownLayer does not claim verified streams unless told so.
    expect(verifiesItself(layers[0]!)).toBe(false);
    const config = configOf(await Promise.all(layers.map((l) => l.diffId())));
    const oci = new ComputedImage({ layers, config, family: 'oci' });
    const again = new ComputedImage({ layers, config: structuredClone(config), family: 'oci' });
    expect(await oci.digest()).toBe(await again.digest());
    expect(await oci.rawConfig()).toEqual(serializeConfig(config));
    const m = await oci.manifest();
    expect(Object.keys(m)).toEqual(['schemaVersion', 'mediaType', 'config', 'layers']);
    expect(m.config).toEqual({
      mediaType: MediaType.OciConfig,
      digest: digestOf(serializeConfig(config)),
      size: serializeConfig(config).byteLength,
    });
    expect(m.layers.map((l) => l.mediaType)).toEqual([MediaType.OciLayerGzip, MediaType.OciLayerGzip]);
    expect(await oci.digest()).toBe(digestOf(await oci.rawManifest()));

    const docker = new ComputedImage({ layers, config, family: 'docker' });
    expect((await docker.manifest()).layers.map((l) => l.mediaType)).toEqual([
      MediaType.DockerLayerGzip,
      MediaType.DockerLayerGzip,
    ]);
    // Kept config bytes are used as they are (the config digest of the source survives).
    const raw = new TextEncoder().encode(`${JSON.stringify(config)}\n`);
    const kept = new ComputedImage({ layers, config, family: 'oci', rawConfig: raw });
    expect(await kept.configDigest()).toBe(digestOf(raw));
  });

  test('layers and diff_ids must agree; docker cannot name every OCI layer type', async () => {
    const layers = [layer(1)];
    expect(() => new ComputedImage({ layers, config: configOf([]), family: 'oci' })).toThrow(
      InconsistentImageError,
    );
    const wrong = new ComputedImage({ layers, config: configOf([digestOf('other')]), family: 'oci' });
    await expect(wrong.digest()).rejects.toBeInstanceOf(InconsistentImageError);
    const nd = [layer(3, MediaType.OciLayerNondistributable)];
    const docker = new ComputedImage({
      layers: nd,
      config: configOf([await nd[0]!.diffId()]),
      family: 'docker',
    });
    await expect(docker.manifest()).rejects.toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    // A zstd layer has no Docker name either: the image is written as OCI instead.
    const z = [layer(4, MediaType.OciLayerNondistributableZstd)];
    const zstd = new ComputedImage({ layers: z, config: configOf([await z[0]!.diffId()]), family: 'docker' });
    expect(await zstd.mediaType()).toBe(MediaType.OciManifest);
    expect((await zstd.manifest()).layers[0]!.mediaType).toBe(MediaType.OciLayerNondistributableZstd);
  });
});
