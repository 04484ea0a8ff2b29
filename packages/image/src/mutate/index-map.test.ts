import { type Descriptor, MediaType, parsePlatform } from '@pd/oci-types';
import { describe, expect, test } from 'vitest';
import { InvalidMutationError } from '../errors.js';
import { layerFromContents } from '../layers/built.js';
import type { Image, ImageIndex } from '../model.js';
import { scratch } from '../scratch.js';
import { appendLayers } from './append.js';
import { editConfig } from './config.js';
import { newIndex } from './index-edit.js';
import { mapIndex, mapIndexImages } from './index-map.js';

const docker = (platform: string) => scratch({ platform, family: 'docker' });

async function listing(index: ImageIndex) {
  return (await index.manifest()).manifests.map((d) => ({
    platform:
      d.platform && [d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/'),
    annotations: d.annotations,
    digest: d.digest,
  }));
}

/** An index of three Docker images, one annotated in the index (so the index is OCI). */
async function threePlatforms() {
  const images = [docker('linux/amd64'), docker('linux/arm64/v8'), docker('linux/s390x')];
  const index = await newIndex([
    { image: images[0]! },
    { image: images[1]!, annotations: { 'org.example.note': 'kept' } },
    { image: images[2]! },
  ]);
  return { images, index };
}

describe('mapIndex', () => {
  test('applies the change to every child, keeping order, platforms and annotations; one layer is one blob', async () => {
    const { index } = await threePlatforms();
    const layer = await layerFromContents({ 'app/x': 'x' });
    const seen: string[] = [];
    const out = await mapIndex(index, async (image, d) => {
      seen.push(`${d.platform?.architecture}`);
      return appendLayers(image, [layer]);
    });
    expect(seen).toEqual(['amd64', 'arm64', 's390x']);
    const before = await listing(index);
    const after = await listing(out);
    expect(after.map(({ digest: _, ...rest }) => rest)).toEqual(before.map(({ digest: _, ...rest }) => rest));
    for (const [i, child] of (await out.children()).entries()) {
      expect(child.descriptor.digest).not.toBe(before[i]!.digest);
      const image = (await child.open()) as Image;
      expect(await image.digest()).toBe(child.descriptor.digest);
      const layers = await image.layers();
      expect(await layers.at(-1)!.digest()).toBe(await layer.digest());
    }
  });

  test('a Docker manifest list stays one while every child is a Docker manifest', async () => {
    const list = await newIndex([{ image: docker('linux/amd64') }, { image: docker('linux/arm64') }]);
    expect(await list.mediaType()).toBe(MediaType.DockerManifestList);
    const edited = await mapIndex(list, (image) => editConfig(image, { env: { A: '1' } }));
    expect(await edited.mediaType()).toBe(MediaType.DockerManifestList);
    const oci = await mapIndex(list, async () => scratch({ platform: 'linux/amd64', family: 'oci' }));
    expect(await oci.mediaType()).toBe(MediaType.OciIndex);
  });

  test('a list of platforms changes those; the others are dropped, or kept as they are with keepOthers', async () => {
    const { index } = await threePlatforms();
    const before = await listing(index);
    const change = (image: Image) => editConfig(image, { env: { CHANGED: '1' } });
    const platforms = [parsePlatform('linux/arm64'), parsePlatform('linux/s390x')];
    const dropped = await listing(await mapIndex(index, change, { platforms }));
    expect(dropped.map((e) => e.platform)).toEqual(['linux/arm64/v8', 'linux/s390x']);
    const kept = await listing(await mapIndex(index, change, { platforms, keepOthers: true }));
    expect(kept.map((e) => e.platform)).toEqual(['linux/amd64', 'linux/arm64/v8', 'linux/s390x']);
    expect(kept[0]!.digest).toBe(before[0]!.digest);
    expect(kept[1]!.digest).not.toBe(before[1]!.digest);
  });

  test('a platform the index lacks, or nothing to change, is an error', async () => {
    const { index } = await threePlatforms();
    const same = async (image: Image) => image;
    await expect(mapIndex(index, same, { platforms: [parsePlatform('linux/riscv64')] })).rejects.toThrow(
      /no image for linux\/riscv64/,
    );
    const artifact = await newIndex([
      { image: docker('linux/amd64'), platform: { os: 'unknown', architecture: 'unknown' } },
    ]);
    await expect(mapIndex(artifact, same)).rejects.toThrow(InvalidMutationError);
  });

  test('nothing changed gives the index itself (its digest kept)', async () => {
    const { index } = await threePlatforms();
    expect(await mapIndex(index, async (image) => image)).toBe(index);
  });

  test('an attestation follows the child it attests: dropped when that child changes, kept when it does not', async () => {
    const [amd64, arm64] = [docker('linux/amd64'), docker('linux/arm64')];
    const attestation = (of: Image) => async () => ({
      image: docker('linux/amd64'),
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: {
        'vnd.docker.reference.type': 'attestation-manifest',
        'vnd.docker.reference.digest': await of.digest(),
      },
    });
    const index = await newIndex([
      { image: amd64 },
      { image: arm64 },
      await attestation(amd64)(),
      await attestation(arm64)(),
    ]);
    const out = await mapIndex(index, (image) => editConfig(image, { env: { A: '1' } }), {
      platforms: [parsePlatform('linux/arm64')],
      keepOthers: true,
    });
    const refs = (await out.manifest()).manifests.map(
      (d: Descriptor) => d.annotations?.['vnd.docker.reference.digest'] ?? d.platform?.architecture,
    );
    expect(refs).toEqual(['amd64', 'arm64', await amd64.digest()]);
  });

  test('nested indexes are mapped in turn', async () => {
    const { index: inner } = await threePlatforms();
    const outer = await newIndex([{ image: inner }]);
    const out = await mapIndex(outer, (image) => editConfig(image, { env: { A: '1' } }), {
      platforms: [parsePlatform('linux/amd64')],
    });
    const nested = (await (await out.children())[0]!.open()) as ImageIndex;
    expect((await listing(nested)).map((e) => e.platform)).toEqual(['linux/amd64']);
    expect((await out.manifest()).manifests[0]!.digest).toBe(await nested.digest());
  });
});

describe('mapIndexImages', () => {
  test('maps every image, attestations and platform-less ones too, and keeps all', async () => {
    const index = await newIndex([
      { image: docker('linux/amd64') },
      { image: docker('linux/arm64'), platform: { os: 'unknown', architecture: 'unknown' } },
    ]);
    let calls = 0;
    const out = await mapIndexImages(index, async (image) => {
      calls++;
      return editConfig(image, { env: { A: '1' } });
    });
    expect(calls).toBe(2);
    expect((await listing(out)).map((e) => e.platform)).toEqual(['linux/amd64', 'unknown/unknown']);
  });
});
