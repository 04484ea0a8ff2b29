import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  crun,
  crunMissing,
  gnuTar,
  gnuTarMissing,
  PeerError,
  runc,
  runcMissing,
  skopeo,
  skopeoMissing,
  umoci,
  umociMissing,
} from '../src/index.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pd-peers-test-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.skipIf(gnuTarMissing())('gnuTar', () => {
  test('creates and lists a tar, reads stdin', async () => {
    await mkdir(join(work, 'src/d'), { recursive: true });
    await writeFile(join(work, 'src/d/f.txt'), 'content\n');
    const tar = join(work, 'a.tar');
    await gnuTar(['-cf', tar, '-C', join(work, 'src'), 'd']);
    expect((await gnuTar(['-tf', tar])).stdout).toBe('d/\nd/f.txt\n');
    const piped = await gnuTar(['-xOf', '-', 'd/f.txt'], { input: await readFile(tar) });
    expect(piped.stdout).toBe('content\n');
  });

  test('rejects with a PeerError that keeps the exit code and stderr', async () => {
    const err = await gnuTar(['-tf', join(work, 'missing.tar')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerError);
    const peer = err as PeerError;
    expect(peer.tool).toBe('tar');
    expect(peer.exitCode).toBe(2);
    expect(peer.stderr).toMatch(/Cannot open/);
    expect(peer.message).toMatch(/^tar -tf .*missing\.tar: /);
  });
});

describe.skipIf(skopeoMissing())('skopeo', () => {
  test('answers with its version', async () => {
    expect((await skopeo(['--version'])).stdout).toMatch(/^skopeo version \d+\.\d+/);
  });
});

describe.skipIf(umociMissing())('umoci', () => {
  test('makes an OCI layout with an empty image and unpacks it', async () => {
    const layout = join(work, 'layout');
    await umoci(['init', '--layout', layout]);
    await umoci(['new', '--image', `${layout}:empty`]);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('empty');
    const bundle = join(work, 'bundle');
    await umoci(['unpack', '--image', `${layout}:empty`, bundle]);
    expect((await stat(join(bundle, 'rootfs'))).isDirectory()).toBe(true);
    expect(JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')).ociVersion).toMatch(/^1\./);
  });
});

describe.skipIf(runcMissing())('runc', () => {
  test('answers with its version and lists no stray containers of ours', async () => {
    expect((await runc(['--version'])).stdout).toMatch(/^runc version \d/);
    const state = await runc(['state', `pd-peers-missing-${process.pid}`]).catch((e: unknown) => e);
    expect(state).toBeInstanceOf(PeerError);
  });
});

describe.skipIf(crunMissing())('crun', () => {
  test('answers with its version', async () => {
    expect((await crun(['--version'])).stdout).toMatch(/^crun version \d/);
  });
});
