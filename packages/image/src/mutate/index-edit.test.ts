import { MediaType, validateDockerManifestList, validateOciIndex } from '@pd/oci-types';
import { describe, expect, test } from 'vitest';
import { InvalidMutationError } from '../errors.js';
import { scratch } from '../scratch.js';
import { addToIndex, annotateIndex, newIndex, removeFromIndex } from './index-edit.js';

const docker = (platform: string) => scratch({ platform, family: 'docker' });
const oci = (platform: string) => scratch({ platform, family: 'oci' });

async function entries(index: Awaited<ReturnType<typeof newIndex>>) {
  return (await index.manifest()).manifests.map((d) => ({
    digest: d.digest,
    platform:
      d.platform && [d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/'),
    annotations: d.annotations,
  }));
}

describe('index authoring', () => {
  test('newIndex lists the images in order, platforms from their configs; Docker images make a manifest list', async () => {
    const [amd64, arm64] = [docker('linux/amd64'), docker('linux/arm64/v8')];
    const list = await newIndex([{ image: amd64 }, { image: arm64 }]);
    expect(await list.mediaType()).toBe(MediaType.DockerManifestList);
    validateDockerManifestList(JSON.parse(Buffer.from(await list.rawManifest()).toString()));
    expect(await entries(list)).toEqual([
      { digest: await amd64.digest(), platform: 'linux/amd64', annotations: undefined },
      { digest: await arm64.digest(), platform: 'linux/arm64/v8', annotations: undefined },
    ]);
    // Children open to the very images given (push writes them before the index).
    const children = await list.children();
    expect(await children[1]!.open()).toBe(arm64);
  });

  test('an OCI image, an annotation or family oci make an OCI index; family docker refuses what a list cannot hold', async () => {
    const mixed = await newIndex([{ image: docker('linux/amd64') }, { image: oci('linux/arm64') }]);
    expect(await mixed.mediaType()).toBe(MediaType.OciIndex);
    const annotated = await newIndex([{ image: docker('linux/amd64') }], { annotations: { a: 'b' } });
    expect((await annotated.manifest()) as { annotations?: unknown }).toMatchObject({
      annotations: { a: 'b' },
    });
    validateOciIndex(JSON.parse(Buffer.from(await annotated.rawManifest()).toString()));
    expect(await (await newIndex([{ image: docker('linux/amd64') }], { family: 'oci' })).mediaType()).toBe(
      MediaType.OciIndex,
    );
    await expect(newIndex([{ image: oci('linux/amd64') }], { family: 'docker' })).rejects.toThrow(
      InvalidMutationError,
    );
  });

  test('addToIndex appends, and replaces an entry of the same digest in place', async () => {
    const [amd64, arm64, s390x] = [docker('linux/amd64'), docker('linux/arm64'), docker('linux/s390x')];
    const list = await newIndex([{ image: amd64 }, { image: arm64 }]);
    const added = await addToIndex(list, [
      { image: s390x },
      { image: amd64, platform: { os: 'linux', architecture: 'amd64', variant: 'v3' } },
    ]);
    expect((await entries(added)).map((e) => e.platform)).toEqual([
      'linux/amd64/v3',
      'linux/arm64/v8',
      'linux/s390x',
    ]);
    expect(await added.digest()).not.toBe(await list.digest());
  });

  test('removeFromIndex drops by platform (a variant-less one names every variant) or digest, and refuses a miss', async () => {
    const images = [docker('linux/amd64'), docker('linux/arm/v6'), docker('linux/arm/v7')];
    const list = await newIndex(images.map((image) => ({ image })));
    const noArm = await removeFromIndex(list, { platform: { os: 'linux', architecture: 'arm' } });
    expect((await entries(noArm)).map((e) => e.platform)).toEqual(['linux/amd64']);
    const noV7 = await removeFromIndex(list, {
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
    });
    expect((await entries(noV7)).map((e) => e.platform)).toEqual(['linux/amd64', 'linux/arm/v6']);
    const byDigest = await removeFromIndex(list, { digest: await images[0]!.digest() });
    expect(await byDigest.children()).toHaveLength(2);
    await expect(
      removeFromIndex(list, { platform: { os: 'linux', architecture: 'ppc64le' } }),
    ).rejects.toThrow(/no entry of the index is for linux\/ppc64le/);
  });

  test('annotateIndex sets and removes annotations of entries or of the index; a manifest list becomes OCI', async () => {
    const list = await newIndex([{ image: docker('linux/amd64') }, { image: docker('linux/arm64') }]);
    const one = await annotateIndex(list, {
      entries: { platform: { os: 'linux', architecture: 'arm64' } },
      annotations: { 'org.opencontainers.image.source': 'https://example.com/app' },
    });
    expect(await one.mediaType()).toBe(MediaType.OciIndex);
    expect((await entries(one)).map((e) => e.annotations)).toEqual([
      undefined,
      { 'org.opencontainers.image.source': 'https://example.com/app' },
    ]);
    const top = await annotateIndex(one, { annotations: { created: 'today' } });
    expect(((await top.manifest()) as { annotations?: unknown }).annotations).toEqual({ created: 'today' });
    const cleared = await annotateIndex(top, {
      entries: { platform: { os: 'linux', architecture: 'arm64' } },
      annotations: { 'org.opencontainers.image.source': null },
    });
    expect((await entries(cleared)).map((e) => e.annotations)).toEqual([undefined, undefined]);
    // Only a platform change keeps a manifest list a manifest list.
    const moved = await annotateIndex(list, {
      entries: { platform: { os: 'linux', architecture: 'arm64' } },
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    });
    expect(await moved.mediaType()).toBe(MediaType.DockerManifestList);
    expect((await entries(moved)).map((e) => e.platform)).toEqual(['linux/amd64', 'linux/arm64/v8']);
  });
});
