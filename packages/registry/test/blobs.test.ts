import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DigestMismatchError, SizeMismatchError } from '@pd/oci-types';
import {
  dockerMissing,
  type FaultProxy,
  type RedirectServer,
  type RunningRegistry,
  registryMissing,
  startFaultProxy,
  startRedirectServer,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { NotFoundError, type ProgressEvent, RegistryClient, RegistryConnectionError } from '../src/index.js';
import { pushWithDocker, randomData, readAll, tempDir } from './helpers.js';

const skip = registryMissing() ?? dockerMissing();

interface Layer {
  digest: string;
  size: number;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe.skipIf(skip)('blob downloads against the real registry', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let layer: Layer;
  let config: Layer;
  const client = new RegistryClient({ dockerConfig: false, retry: { minDelay: 10, maxDelay: 50 } });
  const viaProxy = () => ({ registry: proxy.host, repository: 'pd/blobs' });

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    // Random bytes do not compress: the layer blob is a few MB.
    const image = await pushWithDocker(registry.host, 'pd/blobs', 'v1', {
      files: { '/data.bin': randomData(3 << 20) },
    });
    const manifest = JSON.parse((await client.getManifest(image.ref)).bytes.toString('utf8'));
    layer = manifest.layers[0];
    config = manifest.config;
  });
  afterEach(() => {
    proxy.clearFaults();
    proxy.resetStats();
  });
  afterAll(async () => {
    await client.close();
    await proxy?.stop();
    await registry?.stop();
  });

  test('a blob streams verified, with progress up to its size', async () => {
    const events: ProgressEvent[] = [];
    const stream = await client.getBlob({ registry: registry.host, repository: 'pd/blobs' }, layer.digest, {
      size: layer.size,
      onProgress: (e) => events.push(e),
    });
    const bytes = await readAll(stream);
    expect(bytes.length).toBe(layer.size);
    expect(sha256(bytes)).toBe(layer.digest);
    expect(events.every((e) => e.id === layer.digest && e.total === layer.size)).toBe(true);
    expect(events.at(-1)).toMatchObject({ done: layer.size, phase: 'done' });
    const dones = events.map((e) => e.done);
    expect([...dones].sort((a, b) => a - b)).toEqual(dones);
  });

  test('downloadBlob writes the verified blob into place; a bad one leaves nothing behind', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'layer');
      const r = await client.downloadBlob(viaProxy(), layer.digest, path, { size: layer.size });
      expect(r).toEqual({ digest: layer.digest, size: layer.size, path });
      expect(sha256(readFileSync(path))).toBe(layer.digest);

      proxy.inject({ path: /\/blobs\/sha256:/, method: 'GET', fault: { kind: 'flip-byte' } });
      const bad = join(dir, 'bad');
      const err = await client.downloadBlob(viaProxy(), layer.digest, bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
      expect(readdirSync(dir)).toEqual(['layer']);
    } finally {
      cleanup();
    }
  });

  test('downloadBlob takes a socket of its own over plain HTTP: one GET, the same bytes', async () => {
    const lines: string[] = [];
    const own = new RegistryClient({ dockerConfig: false, logger: { debug: (m) => lines.push(m) } });
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'layer');
      await own.downloadBlob(viaProxy(), layer.digest, path, { size: layer.size });
      expect(sha256(readFileSync(path))).toBe(layer.digest);
      expect(proxy.requests({ method: 'GET', path: /\/blobs\/sha256:/ }).map((r) => r.status)).toEqual([200]);
      expect(lines.filter((l) => l.includes('/blobs/'))).toEqual([
        expect.stringMatching(/^GET http:\/\/.+\/blobs\/sha256:\w+ -> 200 \(\d+ ms, socket\)$/),
      ]);
    } finally {
      cleanup();
      await own.close();
    }
  });

  test('preconnect opens the connections downloads then take: none is opened after the ping', async () => {
    const own = new RegistryClient({ dockerConfig: false });
    const { dir, cleanup } = tempDir();
    try {
      own.preconnect(viaProxy(), { count: 2 });
      await Promise.all(
        [layer, config].map((b, i) =>
          own.downloadBlob(viaProxy(), b.digest, join(dir, `b${i}`), { size: b.size }),
        ),
      );
      expect(sha256(readFileSync(join(dir, 'b0')))).toBe(layer.digest);
      expect(sha256(readFileSync(join(dir, 'b1')))).toBe(config.digest);
      const [ping] = proxy.requests({ method: 'GET', path: /^\/v2\/$/ });
      const gets = proxy.requests({ method: 'GET', path: /\/blobs\/sha256:/ });
      expect(gets.map((r) => r.status)).toEqual([200, 200]);
      // Opened before the ping's, by preconnect, one GET each.
      expect(new Set(gets.map((r) => r.connection)).size).toBe(2);
      for (const get of gets) expect(get.connection).toBeLessThan(ping!.connection);
    } finally {
      cleanup();
      await own.close();
    }
  });

  test('a socket cut mid-body hands over to the client, which fetches the blob again', async () => {
    proxy.inject({
      path: /\/blobs\/sha256:/,
      method: 'GET',
      times: 1,
      fault: { kind: 'reset-body', afterBytes: 1_000_000 },
    });
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'layer');
      await client.downloadBlob(viaProxy(), layer.digest, path, { size: layer.size });
      expect(sha256(readFileSync(path))).toBe(layer.digest);
      const gets = proxy.requests({ method: 'GET', path: /\/blobs\/sha256:/ });
      expect(gets.map((r) => [r.status, r.range])).toEqual([
        [200, undefined],
        [200, undefined],
      ]);
      expect(readdirSync(dir)).toEqual(['layer']);
    } finally {
      cleanup();
    }
  });

  test('downloadBlobAt fills its region of a shared file, beside another blob, and nothing else', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'archive');
    // Marked bytes around and between the two regions show that no write strays.
    const gap = 1000;
    const layerAt = gap;
    const configAt = layerAt + layer.size + gap;
    const total = configAt + config.size + gap;
    writeFileSync(path, Buffer.alloc(total, 0xaa));
    const file = await open(path, 'r+');
    try {
      const sizes = await Promise.all([
        client.downloadBlobAt(viaProxy(), layer.digest, file, layerAt, { size: layer.size }),
        client.downloadBlobAt(viaProxy(), config.digest, file, configAt, { size: config.size }),
      ]);
      expect(sizes).toEqual([layer.size, config.size]);
      const bytes = readFileSync(path);
      expect(bytes.length).toBe(total);
      expect(sha256(bytes.subarray(layerAt, layerAt + layer.size))).toBe(layer.digest);
      expect(sha256(bytes.subarray(configAt, configAt + config.size))).toBe(config.digest);
      const marks = Buffer.concat([
        bytes.subarray(0, layerAt),
        bytes.subarray(layerAt + layer.size, configAt),
        bytes.subarray(configAt + config.size),
      ]);
      expect(marks.equals(Buffer.alloc(3 * gap, 0xaa))).toBe(true);
    } finally {
      await file.close();
      cleanup();
    }
  });

  test('downloadBlobAt: a socket cut mid-body is fetched again by the client over the same region; a bad blob fails', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'archive');
    const at = 512;
    const file = await open(path, 'w+');
    try {
      proxy.inject({
        path: /\/blobs\/sha256:/,
        method: 'GET',
        times: 1,
        fault: { kind: 'reset-body', afterBytes: 1_000_000 },
      });
      expect(await client.downloadBlobAt(viaProxy(), layer.digest, file, at, { size: layer.size })).toBe(
        layer.size,
      );
      const bytes = readFileSync(path);
      expect(bytes.length).toBe(at + layer.size);
      expect(sha256(bytes.subarray(at))).toBe(layer.digest);
      expect(proxy.requests({ method: 'GET', path: /\/blobs\/sha256:/ }).map((r) => r.status)).toEqual([
        200, 200,
      ]);

      proxy.inject({ path: /\/blobs\/sha256:/, method: 'GET', fault: { kind: 'flip-byte' } });
      const err = await client.downloadBlobAt(viaProxy(), layer.digest, file, at).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
    } finally {
      await file.close();
      cleanup();
    }
  });

  test('an error status is the client’s to answer: a missing blob fails as getBlob fails', async () => {
    const missing = sha256(Buffer.from('not in this registry'));
    const { dir, cleanup } = tempDir();
    try {
      const viaDownload = await client
        .downloadBlob(viaProxy(), missing, join(dir, 'm'))
        .catch((e: unknown) => e);
      const viaGet = await client.getBlob(viaProxy(), missing).catch((e: unknown) => e);
      expect(viaDownload).toBeInstanceOf(NotFoundError);
      expect((viaDownload as Error).message).toBe((viaGet as Error).message);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      cleanup();
    }
  });

  test('HEAD tells existence and size', async () => {
    const repo = `${registry.host}/pd/blobs`;
    expect(await client.headBlob(repo, layer.digest)).toEqual({ digest: layer.digest, size: layer.size });
    expect(await client.headBlob(repo, sha256(Buffer.from('absent')))).toBeUndefined();
  });

  test('an interrupted download resumes with Range and hashes across the resume', async () => {
    proxy.inject({
      path: /\/blobs\/sha256:/,
      method: 'GET',
      times: 1,
      fault: { kind: 'reset-body', afterBytes: 1_000_000 },
    });
    const bytes = await readAll(await client.getBlob(viaProxy(), layer.digest, { size: layer.size }));
    expect(sha256(bytes)).toBe(layer.digest);
    const gets = proxy.requests({ method: 'GET', path: /\/blobs\/sha256:/ });
    expect(gets.map((r) => r.range)).toEqual([undefined, 'bytes=1000000-']);
    expect(gets[1]?.status).toBe(206);
    // Nothing downloaded twice.
    expect(proxy.bytesSent({ path: /\/blobs\/sha256:/ })).toBe(layer.size);
  });

  test('without Range support the download restarts and skips what was already delivered', async () => {
    proxy.inject({
      path: /\/blobs\/sha256:/,
      method: 'GET',
      times: 1,
      fault: { kind: 'reset-body', afterBytes: 700_000 },
    });
    proxy.inject({ path: /\/blobs\/sha256:/, method: 'GET', fault: { kind: 'strip-range' } });
    const bytes = await readAll(await client.getBlob(viaProxy(), layer.digest));
    expect(sha256(bytes)).toBe(layer.digest);
    const gets = proxy.requests({ method: 'GET', path: /\/blobs\/sha256:/ });
    expect(gets.map((r) => r.status)).toEqual([200, 200]);
    expect(proxy.bytesSent({ path: /\/blobs\/sha256:/ })).toBe(layer.size + 700_000);
  });

  test('a flipped byte fails the stream before its end: the full content never reaches the caller', async () => {
    proxy.inject({ path: /\/blobs\/sha256:/, method: 'GET', fault: { kind: 'flip-byte' } });
    const stream = await client.getBlob(viaProxy(), layer.digest, { size: layer.size });
    let received = 0;
    const err = await (async () => {
      for await (const chunk of stream) received += (chunk as Buffer).length;
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).expected).toBe(layer.digest);
    expect(received).toBeLessThan(layer.size);
  });

  test('a descriptor size that disagrees with the registry fails before reading', async () => {
    const err = await client
      .getBlob(viaProxy(), config.digest, { size: config.size + 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SizeMismatchError);
  });

  test('resets on every attempt give up after the bounded attempts with a clear error', async () => {
    const limited = new RegistryClient({
      dockerConfig: false,
      retry: { attempts: 3, minDelay: 5, maxDelay: 10 },
    });
    proxy.inject({ path: /\/blobs\/sha256:/, method: 'GET', fault: { kind: 'reset' } });
    const err = await limited.getBlob(viaProxy(), layer.digest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryConnectionError);
    expect((err as Error).message).toBe(`connection to ${proxy.host} was reset`);
    expect(proxy.requests({ method: 'GET', path: /\/blobs\/sha256:/ })).toHaveLength(3);
    await limited.close();
  });

  test('an aborted download ends the stream with the abort reason', async () => {
    proxy.inject({
      path: /\/blobs\/sha256:/,
      method: 'GET',
      fault: { kind: 'slow', bytesPerSecond: 2_000_000 },
    });
    const controller = new AbortController();
    const stream = await client.getBlob(viaProxy(), layer.digest, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user cancelled')), 100);
    await expect(readAll(stream)).rejects.toThrow(/user cancelled|aborted/);
  });

  test('downloads per registry are bounded by the concurrency setting', async () => {
    const one = new RegistryClient({ dockerConfig: false, concurrency: 1 });
    const repo = { registry: registry.host, repository: 'pd/blobs' };
    // The slot is held while the transfer runs: a 3 MB blob nobody reads cannot finish it.
    const first = await one.getBlob(repo, layer.digest);
    const second = one.getBlob(repo, config.digest);
    const state = await Promise.race([
      second.then(() => 'open'),
      new Promise((r) => setTimeout(() => r('waiting'), 300)),
    ]);
    expect(state).toBe('waiting');
    expect(sha256(await readAll(first))).toBe(layer.digest);
    expect(sha256(await readAll(await second))).toBe(config.digest);
    await one.close();
  });
});

describe.skipIf(skip)('blob GET redirected to object storage', () => {
  let registry: RunningRegistry;
  let front: RedirectServer;
  let layer: Layer;
  const password = 'redirect-secret-pw';

  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { carol: password } });
    front = await startRedirectServer({ target: registry.url, dataDir: registry.dataDir });
    const image = await pushWithDocker(registry.host, 'pd/redir', 'v1', {
      files: { '/x.bin': randomData(200_000) },
      login: { user: 'carol', password },
    });
    const c = new RegistryClient({
      dockerConfig: false,
      credentials: { [registry.host]: { username: 'carol', password } },
    });
    layer = JSON.parse((await c.getManifest(image.ref)).bytes.toString('utf8')).layers[0];
    await c.close();
  });
  afterAll(async () => {
    await front?.stop();
    await registry?.stop();
  });

  test('the blob arrives from the other origin, and Authorization never goes there', async () => {
    const client = new RegistryClient({
      dockerConfig: false,
      credentials: { [front.host]: { username: 'carol', password } },
    });
    const bytes = await readAll(
      await client.getBlob({ registry: front.host, repository: 'pd/redir' }, layer.digest),
    );
    expect(sha256(bytes)).toBe(layer.digest);
    expect(front.redirects).toBeGreaterThan(0);
    expect(front.storageRequests.length).toBeGreaterThan(0);
    expect(front.storageRequests.map((r) => r.authorization)).toEqual(
      front.storageRequests.map(() => undefined),
    );
    await client.close();
  });

  test('downloadBlob follows the redirect on its own sockets: credentials to the registry only', async () => {
    const lines: string[] = [];
    const client = new RegistryClient({
      dockerConfig: false,
      credentials: { [front.host]: { username: 'carol', password } },
      logger: { debug: (m) => lines.push(m) },
    });
    const before = front.storageRequests.length;
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'x');
      await client.downloadBlob({ registry: front.host, repository: 'pd/redir' }, layer.digest, path);
      expect(sha256(readFileSync(path))).toBe(layer.digest);
      const storage = front.storageRequests.slice(before);
      expect(storage.length).toBe(1);
      expect(storage[0]?.authorization).toBeUndefined();
      expect(lines.some((l) => /-> 30\d \(socket; redirect\)$/.test(l))).toBe(true);
      expect(lines.some((l) => /-> 200 \(\d+ ms, socket\)$/.test(l))).toBe(true);
    } finally {
      cleanup();
      await client.close();
    }
  });
});
