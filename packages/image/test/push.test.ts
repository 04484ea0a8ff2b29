import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer as streamToBuffer } from 'node:stream/consumers';
import { DigestMismatchError, digestOf, type ImageConfig, MediaType } from '@pd/oci-types';
import { RegistryClient } from '@pd/registry';
import {
  docker,
  type FaultProxy,
  type RunningRegistry,
  readPushedImage,
  skopeo,
  startFaultProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BlobCache } from '../src/cache.js';
import { readOciArchive, readOciLayout } from '../src/index.js';
import { layerFromContents } from '../src/layers/built.js';
import { KnownLayer } from '../src/layers/known.js';
import type { Image as ImageModel, ProgressEvent } from '../src/model.js';
import * as remote from '../src/remote.js';
import { Image } from '../src/seed.js';
import { push } from '../src/sinks/push.js';
import { type Env, fixturesMissing, startEnv } from './helpers.js';

describe.skipIf(fixturesMissing())('push', () => {
  let env: Env;
  let second: RunningRegistry;
  let secondProxy: FaultProxy;
  beforeAll(async () => {
    env = await startEnv();
    second = await startRegistry();
    secondProxy = await startFaultProxy(second.url);
  });
  afterAll(async () => {
    await secondProxy?.stop();
    await second?.stop();
    await env?.stop();
  });

  test('an appended image runs under docker and skopeo sees the new config', async () => {
    const fx = env.fixtures.small;
    const img = await Image.pull(fx.ref, { client: env.client });
    await img.addLayerContents({ '/this/is/a/test1': 'this is test 1' });
    img
      .setEnv('FOO', 'BAR')
      .setEnv('GREETING', 'bonjour')
      .editConfig({ cmd: ['cat', '/this/is/a/test1'] });
    const ref = `${env.registry.host}/push/appended:v1`;
    const pushed = await img.push(ref, { client: env.client });
    expect(pushed.digest).toBe(await img.digest());
    expect(pushed.mediaType).toBe(MediaType.DockerManifest);

    const run = await docker(['run', '--rm', '--pull', 'always', '--network', 'none', ref]);
    expect(run.stdout).toBe('this is test 1');
    const env2 = await docker([
      'run',
      '--rm',
      '--network',
      'none',
      ref,
      'sh',
      '-c',
      'echo $FOO $GREETING; cat /hello.txt',
    ]);
    expect(env2.stdout).toBe(`BAR bonjour\n${fx.files['/hello.txt']}`);
    await docker(['image', 'rm', ref]).catch(() => undefined);

    const inspected = JSON.parse(
      (await skopeo(['inspect', '--tls-verify=false', '--config', `docker://${ref}`])).stdout,
    ) as ImageConfig;
    expect(inspected.config?.Env).toEqual([
      'PATH=/usr/local/bin:/usr/bin:/bin',
      'GREETING=bonjour',
      'FOO=BAR',
    ]);
    expect(inspected.config?.Cmd).toEqual(['cat', '/this/is/a/test1']);
    expect(inspected.rootfs.diff_ids.slice(0, 3)).toEqual(fx.layers.map((l) => l.diffId));
    const raw = (await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${ref}`])).stdout;
    expect(raw).toBe(Buffer.from(await img.rawManifest()).toString());
  });

  test('append onto a base in the same registry, pushed to a new repo: no base bytes, base layers mounted', async () => {
    const fx = env.fixtures.layered;
    const events: ProgressEvent[] = [];
    const img = await Image.pull(env.viaProxy(fx.ref), { client: env.client });
    await img.addLayerContents({ '/app/hello.txt': 'appended\n' });
    env.proxy.resetStats();
    const target = `${env.proxy.host}/push/mounted:latest`;
    const pushed = await img.push(target, { client: env.client, onProgress: (e) => events.push(e) });

    const base = fx.layers.map((l) => l.digest);
    // Not one byte of a base layer went through the proxy, in either direction.
    expect(env.blobBytes(base)).toBe(0);
    const touching = env.proxy.log.filter((r) => base.some((d) => r.url.includes(d)));
    expect(touching.reduce((n, r) => n + r.requestBytes + r.responseBytes, 0)).toBe(0);
    // Each base layer was mounted from the source repository.
    for (const d of base) {
      const mounts = env.proxy
        .requests({ method: 'POST' })
        .filter((r) => r.url.includes(`mount=${encodeURIComponent(d)}`));
      expect(mounts.map((r) => r.status)).toEqual([201]);
      expect(mounts[0]!.url).toContain(`from=${encodeURIComponent(fx.repository)}`);
    }
    const last = (id: string) => events.filter((e) => e.id === id).at(-1);
    for (const d of base) expect(last(d)?.phase).toBe('mount');
    const added = (await img.manifest()).layers.at(-1)!;
    expect(last(added.digest)?.phase).toBe('upload');
    expect(last(added.digest)?.done).toBe(added.size);

    const back = await readPushedImage(env.registry, 'push/mounted', 'latest', pushed.digest);
    expect(back.layers.map((l) => l.digest)).toEqual([...base, added.digest]);

    // Pushing again moves nothing: base layers are mounted again (the mount answers 201 for a
    // blob the target holds, no HEAD first), the added one has no source to mount from (HEAD).
    events.length = 0;
    await img.push(target, { client: env.client, onProgress: (e) => events.push(e) });
    for (const d of base) expect(last(d)?.phase).toBe('mount');
    expect(last(added.digest)?.phase).toBe('skip');
  });

  test('to a second registry: compressed bytes streamed as they are (same digests, same manifest)', async () => {
    const fx = env.fixtures.withUser;
    const cache = new BlobCache(join(env.cacheDir, 'cross'));
    const img = await remote.image(env.viaProxy(fx.ref), { client: env.client, cache });
    env.proxy.resetStats();
    secondProxy.resetStats();
    const ref = `${secondProxy.host}/copied/with-user:latest`;
    const pushed = await push(img, ref, { client: env.client });
    expect(pushed.digest).toBe(fx.digest);
    const back = await readPushedImage(second, 'copied/with-user', 'latest', fx.digest);
    expect(back.layers).toEqual(fx.layers);
    // Out of the source exactly the compressed blobs, into the target exactly the same amount.
    const total = fx.layers.reduce((n, l) => n + l.size, 0);
    expect(env.blobBytes(fx.layers.map((l) => l.digest))).toBe(total);
    const uploads = secondProxy.log.filter((r) => r.path.includes('/blobs/uploads/'));
    const sent = (method: string) =>
      uploads.filter((r) => r.method === method).reduce((n, r) => n + r.requestBytes, 0);
    const configSize = (await img.rawConfig()).byteLength;
    expect(sent('PUT') + sent('PATCH')).toBe(total + configSize);
    // The client's one probe of a small single-POST upload (ignored by distribution) is all else.
    expect(sent('POST')).toBeLessThanOrEqual(256 * 1024);
    // A layer that keeps copies is streamed through the cache, which fills on the way.
    for (const l of fx.layers) expect(await cache.has(l.digest)).toBe(true);
  });

  test('to a second registry with no cache: each layer piped socket to socket, verified, no copy kept', async () => {
    const fx = env.fixtures.layered;
    const logs: string[] = [];
    const client = new RegistryClient({ dockerConfig: false, logger: { debug: (m) => logs.push(m) } });
    try {
      const img = await remote.image(env.viaProxy(fx.ref), { client, cache: false });
      const ref = `${secondProxy.host}/piped/layered:v1`;
      const pushed = await push(img, ref, { client });
      expect(pushed.digest).toBe(fx.digest);
      const back = await readPushedImage(second, 'piped/layered', 'v1', fx.digest);
      expect(back.layers).toEqual(fx.layers);
      // One GET per distinct layer at the source; those above 256 KiB (a small blob goes as a single
      // POST through the client) in one GET and one PUT on sockets of their own.
      const distinct = new Map(fx.layers.map((l) => [l.digest, l.size]));
      const piped = [...distinct.values()].filter((size) => size > 256 * 1024).length;
      expect(piped).toBeGreaterThan(0);
      const layerGets = logs.filter(
        (m) => m.startsWith('GET ') && [...distinct.keys()].some((d) => m.includes(d)),
      );
      expect(layerGets).toHaveLength(distinct.size);
      expect(logs.filter((m) => /^GET .*\/blobs\/sha256:.* -> 200 \(\d+ ms, socket\)$/.test(m))).toHaveLength(
        piped,
      );
      expect(logs.filter((m) => /^PUT .*blobs\/uploads\/.* -> 201 \(\d+ ms, socket\)$/.test(m))).toHaveLength(
        piped,
      );
      // Wrong bytes from the source fail the copy; nothing is tagged.
      const victim = fx.layers[1]!.digest;
      const fault = env.proxy.inject({ fault: { kind: 'flip-byte' }, method: 'GET', path: victim });
      try {
        const bad = `${secondProxy.host}/piped/flipped:v1`;
        const img2 = await remote.image(env.viaProxy(fx.ref), { client, cache: false });
        await expect(push(img2, bad, { client })).rejects.toBeInstanceOf(DigestMismatchError);
        expect(await client.headManifest(bad)).toBeUndefined();
        expect(await client.headBlob(bad, victim)).toBeUndefined();
      } finally {
        fault.remove();
      }
    } finally {
      await client.close();
    }
  });

  test('from an OCI layout and an OCI archive skopeo wrote: each layer goes from where it lies in the file', async () => {
    const fx = env.fixtures.layered;
    const layout = join(env.cacheDir, 'skopeo-push-layout');
    const archive = join(env.cacheDir, 'skopeo-push.tar');
    const src = `docker://${fx.ref}`;
    await skopeo(['copy', '-q', '--src-tls-verify=false', src, `oci:${layout}:v1`]);
    await skopeo(['copy', '-q', '--src-tls-verify=false', src, `oci-archive:${archive}:v1`]);
    for (const [name, img] of [
      ['layout', await readOciLayout(layout, { ref: 'v1' })],
      ['archive', await readOciArchive(archive, { ref: 'v1' })],
    ] as const) {
      const image = img as ImageModel;
      const layers = await image.layers();
      // Where each blob lies: the layout's blob file, or the member's bytes inside the archive.
      for (const [i, layer] of layers.entries()) {
        const at = (await layer.compressedFile?.())!;
        expect(at.path).toBe(
          name === 'layout' ? join(layout, 'blobs/sha256', (await layer.digest()).slice(7)) : archive,
        );
        expect(
          (await streamToBuffer(Readable.from(at))).equals(await streamToBuffer(await layer.compressed())),
        ).toBe(true);
        expect(at.digest).toBe((await image.manifest()).layers[i]!.digest);
      }
      const logs: string[] = [];
      const client = new RegistryClient({ dockerConfig: false, logger: { debug: (m) => logs.push(m) } });
      try {
        const pushed = await push(image, `${second.host}/from-${name}/layered:v1`, { client });
        expect(pushed.digest).toBe(await image.digest());
      } finally {
        await client.close();
      }
      // One PUT per layer went from the file over a socket of its own; the config went as bytes.
      expect(logs.filter((m) => /^PUT .*blobs\/uploads\/.* -> 201 \(\d+ ms, socket\)$/.test(m))).toHaveLength(
        new Set((await image.manifest()).layers.map((l) => l.digest)).size,
      );
      const inspected = JSON.parse(
        (await skopeo(['inspect', '--tls-verify=false', `docker://${second.host}/from-${name}/layered:v1`]))
          .stdout,
      ) as { Digest: string; Layers: string[] };
      expect(inspected.Digest).toBe(await image.digest());
      expect(inspected.Layers).toEqual((await image.manifest()).layers.map((l) => l.digest));
      // The registry's blobs are the bytes: skopeo copies them out and checks every digest.
      await skopeo([
        'copy',
        '-q',
        '--src-tls-verify=false',
        `docker://${second.host}/from-${name}/layered:v1`,
        `oci:${layout}-back-${name}:v1`,
      ]);
    }
  });

  test('a byte flipped on the way from the source registry fails the copy: nothing is tagged', async () => {
    const fx = env.fixtures.layered;
    const cache = new BlobCache(join(env.cacheDir, 'flipped'));
    const img = await remote.image(env.viaProxy(fx.ref), { client: env.client, cache });
    const victim = fx.layers[1]!.digest;
    const fault = env.proxy.inject({ fault: { kind: 'flip-byte' }, method: 'GET', path: victim });
    try {
      const ref = `${secondProxy.host}/copied/flipped:latest`;
      await expect(push(img, ref, { client: env.client })).rejects.toBeInstanceOf(DigestMismatchError);
      expect(await env.client.headManifest(ref)).toBeUndefined();
      expect(await env.client.headBlob(ref, victim)).toBeUndefined();
      expect(await cache.has(victim)).toBe(false);
    } finally {
      fault.remove();
    }
  });

  test('an index pushes its children first, by digest, and keeps every digest', async () => {
    const { list, platforms } = env.fixtures.multiArch;
    const index = await remote.get(list.ref, { client: env.client, cache: env.cache });
    const ref = `${second.host}/copied/multi:latest`;
    const pushed = await push(index, ref, { client: env.client });
    expect(pushed).toMatchObject({
      digest: list.digest,
      mediaType: MediaType.DockerManifestList,
      size: list.size,
    });
    const raw = (await skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${ref}`])).stdout;
    expect(raw).toBe(Buffer.from(await index.rawManifest()).toString());
    for (const p of platforms) {
      const child = await remote.image(`${second.host}/copied/multi@${p.digest}`, { client: env.client });
      expect(await child.digest()).toBe(p.digest);
    }
  });

  test('an index read through the proxy: each child manifest and config is fetched once', async () => {
    const { list, platforms } = env.fixtures.multiArch;
    const cache = new BlobCache(join(env.cacheDir, 'index-once'));
    const index = await remote.get(env.viaProxy(list.ref), { client: env.client, cache });
    env.proxy.resetStats();
    const pushed = await push(index, `${second.host}/copied/multi-once:latest`, { client: env.client });
    expect(pushed.digest).toBe(list.digest);
    const gets = (suffix: string) =>
      env.proxy.requests({ method: 'GET' }).filter((r) => r.path.endsWith(suffix)).length;
    for (const p of platforms) {
      const child = await remote.image(`${second.host}/copied/multi-once@${p.digest}`, {
        client: env.client,
      });
      expect(gets(`/manifests/${p.digest}`)).toBe(1);
      expect(gets(`/blobs/${await child.configDigest()}`)).toBe(1);
    }
  });

  test('8 concurrent pushes of images sharing layers all succeed', async () => {
    const fx = env.fixtures.small;
    const shared = await layerFromContents({ '/shared.txt': 'one layer in every image\n' });
    const images = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const img = await Image.pull(fx.ref, { client: env.client });
        await img.addLayer(shared);
        await img.addLayerContents({ '/me.txt': `image ${i}\n` });
        return img;
      }),
    );
    // Half into one repository (same blobs racing into it), half into their own.
    const refs = images.map((_, i) => `${second.host}/concurrent/${i < 4 ? 'same' : `own${i}`}:t${i}`);
    const results = await Promise.all(images.map((img, i) => img.push(refs[i], { client: env.client })));
    for (const [i, r] of results.entries()) {
      expect(r.digest).toBe(await images[i]!.digest());
      const repo = refs[i]!.slice(second.host.length + 1).split(':')[0]!;
      const back = await readPushedImage(second, repo, `t${i}`, r.digest);
      expect(back.layers.at(-2)?.digest).toBe(await shared.digest());
    }
  });

  test('a layer that fails stops the push before the manifest', async () => {
    const img = await Image.pull(env.fixtures.small.ref, { client: env.client });
    const good = await layerFromContents({ '/ok': 'ok\n' });
    const broken = new KnownLayer({
      digest: digestOf('never'),
      diffId: digestOf('never tar'),
      size: 5,
      mediaType: MediaType.OciLayerGzip,
      open: async () => {
        throw new Error('disk on fire');
      },
    });
    await img.addLayer(good, broken);
    const ref = `${second.host}/broken/image:latest`;
    await expect(img.push(ref, { client: env.client })).rejects.toThrow('disk on fire');
    expect(await env.client.headManifest(ref)).toBeUndefined();
  });

  test('by digest, and refusals', async () => {
    const img = await Image.pull(env.fixtures.small.ref, { client: env.client });
    const defaulted = await img.push(`${second.host}/bydigest/small`, { client: env.client });
    expect(defaulted.ref.tag).toBe('latest');
    const noTag = await push(img, `${second.host}/bydigest/small@${env.fixtures.small.digest}`, {
      client: env.client,
    });
    expect(noTag.digest).toBe(env.fixtures.small.digest);
    expect(noTag.ref.tag).toBeUndefined();
    await expect(
      push(img, `${second.host}/bydigest/small@sha256:${'0'.repeat(64)}`, { client: env.client }),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    const unnamed = await Image.scratch();
    await expect(unnamed.push()).rejects.toMatchObject({ code: 'MISSING_REFERENCE' });
  });
});
