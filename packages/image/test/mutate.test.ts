import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ImageConfig, layerHistoryCount, MediaType } from '@pd/oci-types';
import { readEntries } from '@pd/tar';
import { BASE_IMAGE, docker, importBase, pushImage } from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ComputedImage } from '../src/computed.js';
import { LayerNotFoundError, NotBasedOnError } from '../src/errors.js';
import { layerFromContents } from '../src/layers/built.js';
import { appendLayers } from '../src/mutate/append.js';
import { editConfig, mapConfig } from '../src/mutate/config.js';
import { convertMediaTypes } from '../src/mutate/convert.js';
import { flatten } from '../src/mutate/flatten.js';
import { hasNullFields, withoutNullFields } from '../src/mutate/null-fields.js';
import { rebase } from '../src/mutate/rebase.js';
import { removeLayer } from '../src/mutate/remove.js';
import * as remote from '../src/remote.js';
import { push } from '../src/sinks/push.js';
import { type Env, fixturesMissing, startEnv } from './helpers.js';

/** Non-empty history entries, in order, by what made them. */
const layerSteps = (c: ImageConfig) =>
  (c.history ?? []).filter((h) => !h.empty_layer).map((h) => h.created_by);

type Entry = { type: string; body: string; link: string; mode: number; owner: string };

describe.skipIf(fixturesMissing())('mutations', () => {
  let env: Env;
  let opts: { client: Env['client']; cache: Env['cache'] };
  beforeAll(async () => {
    env = await startEnv();
    opts = { client: env.client, cache: env.cache };
  });
  afterAll(async () => {
    await env?.stop();
  });

  test('editConfig: Env set/unset keeps the order; other fields; layers are the same objects', async () => {
    const img = await remote.image(env.fixtures.withUser.ref, opts);
    const edited = await editConfig(img, {
      env: { PATH: '/opt/bin:/usr/bin:/bin', NEW: 'x' },
      unsetEnv: ['APP_MODE'],
      cmd: ['serve'],
      entrypoint: null,
      workingDir: '/srv',
      user: 'root',
      labels: { 'pd.fixture': null, 'pd.edited': 'yes' },
      exposedPorts: { '9090/udp': false, '443': true },
      volumes: ['/cache'],
      stopSignal: 'SIGINT',
    });
    const c = (await edited.config()).config!;
    expect(c.Env).toEqual(['PATH=/opt/bin:/usr/bin:/bin', 'NEW=x']);
    expect(c.Cmd).toEqual(['serve']);
    expect(c.Entrypoint).toBeUndefined();
    expect(c.WorkingDir).toBe('/srv');
    expect(c.User).toBe('root');
    const { 'pd.fixture': _, ...kept } = (await img.config()).config?.Labels ?? {};
    expect(c.Labels).toEqual({ ...kept, 'pd.edited': 'yes' });
    expect(c.Labels?.['org.opencontainers.image.title']).toBe('pd with-user fixture');
    expect(Object.keys(c.ExposedPorts ?? {}).sort()).toEqual(['443/tcp', '8080/tcp']);
    expect(Object.keys(c.Volumes ?? {}).sort()).toEqual(['/cache', '/data']);
    expect(c.StopSignal).toBe('SIGINT');
    expect(c.Healthcheck?.Retries).toBe(3); // untouched fields stay
    const [before, after] = [await img.layers(), await edited.layers()];
    expect(after).toHaveLength(before.length);
    for (const [i, l] of after.entries()) expect(l).toBe(before[i]);
    // The source is unchanged, and only the config and manifest differ.
    expect((await img.config()).config?.User).toBe('app');
    expect(await edited.digest()).not.toBe(await img.digest());
    expect((await edited.manifest()).layers).toEqual((await img.manifest()).layers);

    const mapped = await mapConfig(edited, (cfg) => {
      cfg.author = 'pd test';
    });
    expect((await mapped.config()).author).toBe('pd test');
    await expect(
      mapConfig(edited, (cfg) => {
        cfg.rootfs.diff_ids.pop();
      }),
    ).rejects.toThrow(/diff_ids/);
  });

  test('removeLayer: diff_ids and history stay aligned (empty_layer entries kept)', async () => {
    const fx = env.fixtures.small;
    const img = await remote.image(fx.ref, opts);
    const config = await img.config();
    expect(config.history?.some((h) => h.empty_layer)).toBe(true);
    expect(layerHistoryCount(config)).toBe(3);

    const top = await removeLayer(img);
    const c = await top.config();
    expect(c.rootfs.diff_ids).toEqual(fx.layers.slice(0, 2).map((l) => l.diffId));
    expect(layerHistoryCount(c)).toBe(2);
    expect(layerSteps(c)).toEqual(layerSteps(config).slice(0, 2));
    // The ENV and CMD entries (no layer) are still there, in their places.
    expect(c.history?.filter((h) => h.empty_layer)).toEqual(config.history?.filter((h) => h.empty_layer));
    const m = await top.manifest();
    expect(m.layers.map((l) => l.digest)).toEqual(fx.layers.slice(0, 2).map((l) => l.digest));

    // By digest, in the middle: the COPY layer and its history entry go.
    const mid = await removeLayer(img, fx.layers[1]!.digest);
    const mc = await mid.config();
    expect(mc.rootfs.diff_ids).toEqual([fx.layers[0]!.diffId, fx.layers[2]!.diffId]);
    expect(layerSteps(mc)).toEqual([layerSteps(config)[0], layerSteps(config)[2]]);
    expect(layerHistoryCount(mc)).toBe(2);
    // By diffID too; a missing one is a typed error.
    expect((await (await removeLayer(img, fx.layers[0]!.diffId)).config()).rootfs.diff_ids).toHaveLength(2);
    await expect(removeLayer(img, 7)).rejects.toBeInstanceOf(LayerNotFoundError);
  });

  test('flatten: one layer whose content is the filesystem docker shows', async () => {
    const fx = env.fixtures.layered;
    const img = await remote.image(fx.ref, opts);
    const flat = await flatten(img);
    const layers = await flat.layers();
    expect(layers).toHaveLength(1);
    const c = await flat.config();
    expect(c.rootfs.diff_ids).toEqual([await layers[0]!.diffId()]);
    expect(layerHistoryCount(c)).toBe(1);
    expect(c.config?.Cmd).toEqual(fx.config.cmd);

    // Docker's own view: export a container of the same image.
    const dir = mkdtempSync(join(tmpdir(), 'pd-flatten-'));
    try {
      const id = (await docker(['create', fx.local])).stdout.trim();
      try {
        await docker(['export', '-o', join(dir, 'fs.tar'), id]);
      } finally {
        await docker(['rm', id]);
      }
      const theirs = new Map<string, Entry>();
      for await (const e of readEntries(createReadStream(join(dir, 'fs.tar')))) {
        const chunks: Buffer[] = [];
        for await (const ch of e.body) chunks.push(ch as Buffer);
        theirs.set(`/${e.header.name.replace(/\/$/, '')}`, {
          type: e.header.type,
          body: Buffer.concat(chunks).toString('latin1'),
          link: e.header.linkname,
          mode: e.header.mode & 0o7777,
          owner: `${e.header.uid}:${e.header.gid}`,
        });
      }
      const ours = new Map<string, Entry>();
      for await (const e of readEntries(await layers[0]!.uncompressed())) {
        const chunks: Buffer[] = [];
        for await (const ch of e.body) chunks.push(ch as Buffer);
        ours.set(`/${e.header.name.replace(/\/$/, '')}`, {
          type: e.header.type,
          body: Buffer.concat(chunks).toString('latin1'),
          link: e.header.linkname,
          mode: e.header.mode & 0o7777,
          owner: `${e.header.uid}:${e.header.gid}`,
        });
      }
      // What the engine adds to every container, and nothing else, is missing from ours.
      const engine = [
        '/.dockerenv',
        '/etc/mtab',
        '/etc/hosts',
        '/etc/hostname',
        '/etc/resolv.conf',
        '/dev',
        '/proc',
        '/sys',
      ];
      const onlyTheirs = [...theirs.keys()].filter(
        (p) => !ours.has(p) && !engine.some((e) => p === e || p.startsWith(`${e}/`)),
      );
      expect(onlyTheirs).toEqual([]);
      expect([...ours.keys()].filter((p) => !theirs.has(p))).toEqual([]);
      // A hardlink pair may be written either way round; compare content through the target.
      const resolve = (m: Map<string, Entry>, x: Entry) =>
        x.type === 'link' ? (m.get(`/${x.link}`) ?? x) : x;
      for (const [path, o] of ours) {
        const t = theirs.get(path)!;
        expect({ path, ...resolve(ours, o), link: '' }).toEqual({ path, ...resolve(theirs, t), link: '' });
      }
      for (const [p, content] of Object.entries(fx.files))
        expect(resolve(ours, ours.get(p)!).body).toBe(content);
      for (const p of fx.absent) expect(ours.has(p)).toBe(false);
      expect([...ours.keys()].some((p) => p.includes('.wh.'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('rebase: the old base layers are replaced, the rest kept, the config merged', async () => {
    await importBase();
    const oldBasePushed = await pushImage(BASE_IMAGE, env.registry, 'fixtures/base');
    const fx = env.fixtures.small;
    expect(fx.layers[0]!.digest).toBe(oldBasePushed.layers[0]!.digest);
    const oldBase = await remote.image(oldBasePushed.ref, opts);
    const marker = await layerFromContents({ '/etc/newbase': 'v2\n' }, { cache: env.cache });
    const newBase = await editConfig(
      await appendLayers(oldBase, [marker], { history: { created_by: 'new base marker' } }),
      { env: { PATH: '/opt/bin:/usr/local/bin:/usr/bin:/bin', BASE_VERSION: '2' }, stopSignal: 'SIGUSR1' },
    );
    const img = await remote.image(fx.ref, opts);
    const rebased = await rebase(img, { oldBase, newBase });

    const layers = await rebased.layers();
    const [nb, orig] = [await newBase.layers(), await img.layers()];
    expect(layers).toHaveLength(nb.length + orig.length - 1);
    for (const [i, l] of layers.slice(0, nb.length).entries()) expect(l).toBe(nb[i]);
    for (const [i, l] of layers.slice(nb.length).entries()) expect(l).toBe(orig[i + 1]);
    const c = await rebased.config();
    expect(c.rootfs.diff_ids).toEqual([
      ...(await newBase.config()).rootfs.diff_ids,
      ...fx.layers.slice(1).map((l) => l.diffId),
    ]);
    // Inherited PATH follows the new base; the image's own variable stays; new base additions arrive.
    expect(c.config?.Env).toEqual([
      'PATH=/opt/bin:/usr/local/bin:/usr/bin:/bin',
      'BASE_VERSION=2',
      'GREETING=hello',
    ]);
    expect(c.config?.Cmd).toEqual(fx.config.cmd);
    expect(c.config?.WorkingDir).toBe('/srv');
    expect(c.config?.StopSignal).toBe('SIGUSR1');
    expect(layerHistoryCount(c)).toBe(c.rootfs.diff_ids.length);
    expect(layerSteps(c)).toEqual([
      ...layerSteps(await newBase.config()),
      ...layerSteps(await img.config()).slice(1),
    ]);

    // It runs: the new base's file and the image's file are both there.
    const pushed = await rebased.digest();
    const target = `${env.registry.host}/mutate/rebased:latest`;
    expect((await push(rebased, target, { client: env.client })).digest).toBe(pushed);
    const out = await docker([
      'run',
      '--rm',
      '--pull',
      'always',
      '--network',
      'none',
      target,
      'cat',
      '/etc/newbase',
      '/hello.txt',
    ]);
    expect(out.stdout).toBe(`v2\n${fx.files['/hello.txt']}`);
    await docker(['image', 'rm', target]).catch(() => undefined);

    // An image not built on the old base is refused.
    const other = await remote.image(env.fixtures.multiArch.list.ref, { ...opts, platform: 'linux/amd64' });
    await expect(rebase(other, { oldBase: img, newBase })).rejects.toBeInstanceOf(NotBasedOnError);
  });

  test('convertMediaTypes: docker ↔ oci keeps blobs and config bytes (less Docker nulls), changes the manifest', async () => {
    const img = await remote.image(env.fixtures.small.ref, opts);
    expect(await img.mediaType()).toBe(MediaType.DockerManifest);
    const oci = await convertMediaTypes(img, 'oci');
    const m = await oci.manifest();
    expect(m.mediaType).toBe(MediaType.OciManifest);
    expect(m.config.mediaType).toBe(MediaType.OciConfig);
    expect(m.layers.every((l) => l.mediaType === MediaType.OciLayerGzip)).toBe(true);
    expect(m.layers.map((l) => l.digest)).toEqual(env.fixtures.small.layers.map((l) => l.digest));
    // Config bytes kept, unless Docker's nulls must go (the OCI config schema forbids them).
    const source = await img.config();
    if (hasNullFields(source)) expect(await oci.config()).toEqual(withoutNullFields(source));
    else expect(await oci.configDigest()).toBe(await img.configDigest());
    const back = await convertMediaTypes(oci, 'docker');
    expect(await back.digest()).not.toBe(await oci.digest());
    expect((await back.manifest()).layers).toEqual((await img.manifest()).layers);
    expect(await convertMediaTypes(img, 'docker')).toBe(img);
    expect(oci).toBeInstanceOf(ComputedImage);
  });
});
