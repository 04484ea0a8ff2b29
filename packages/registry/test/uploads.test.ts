import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DigestMismatchError, SizeMismatchError } from '@pd/oci-types';
import {
  type FaultProxy,
  type RunningRegistry,
  registryMissing,
  startFaultProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  type ProgressEvent,
  RegistryClient,
  RegistryConnectionError,
  RegistryError,
  UploadSourceError,
} from '../src/index.js';
import { randomData, sourceOf, tempDir } from './helpers.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MiB = 1 << 20;

describe.skipIf(registryMissing())('blob uploads against the real registry', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  const client = new RegistryClient({ dockerConfig: false, retry: { minDelay: 10, maxDelay: 50 } });
  const repo = (name: string) => ({ registry: proxy.host, repository: `pd/${name}` });
  /** The blob as the registry serves it, read without pd. */
  const stored = async (name: string, digest: string) => {
    const res = await fetch(`${registry.url}/v2/pd/${name}/blobs/${digest}`);
    return res.status === 200 ? Buffer.from(await res.arrayBuffer()) : undefined;
  };
  const log = () =>
    proxy.log
      .filter((r) => r.path !== '/v2/')
      .map((r) => `${r.method} ${r.path.replace(/uploads\/[0-9a-f-]{36}/, 'uploads/<id>')} ${r.status}`);

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
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

  test('a failing source is reported as the source failing, not as the registry being unreachable', async () => {
    const data = randomData(3 * MiB);
    const digest = sha256(data);
    const missing = client.uploadBlob(
      repo('src-open'),
      () => Promise.reject(Object.assign(new Error('no such file'), { code: 'ENOENT' })),
      {
        digest,
        size: data.length,
      },
    );
    await expect(missing).rejects.toBeInstanceOf(UploadSourceError);
    await expect(missing).rejects.toThrow(/cannot read .* to upload: no such file/);
    const broken = () =>
      Readable.from(
        (async function* () {
          yield data.subarray(0, MiB);
          throw Object.assign(new Error('read failed'), { code: 'EIO' });
        })(),
      );
    const midway = client.uploadBlob(repo('src-midway'), broken, { digest, size: data.length });
    await expect(midway).rejects.toBeInstanceOf(UploadSourceError);
    await expect(midway).rejects.not.toBeInstanceOf(RegistryConnectionError);
    expect(await stored('src-midway', digest)).toBeUndefined();
  });

  test('monolithic: POST then one PUT carrying the bytes; a second upload finds the blob', async () => {
    const data = randomData(5 * MiB);
    const digest = sha256(data);
    const events: ProgressEvent[] = [];
    const r = await client.uploadBlob(repo('mono'), sourceOf(data), {
      digest,
      size: data.length,
      onProgress: (e) => events.push(e),
    });
    expect(r).toEqual({ digest, size: data.length, how: 'uploaded' });
    expect(log()).toEqual([
      `HEAD /v2/pd/mono/blobs/${digest} 404`,
      'POST /v2/pd/mono/blobs/uploads/ 202',
      'PUT /v2/pd/mono/blobs/uploads/<id> 201',
    ]);
    expect(proxy.requests({ method: 'PUT' })[0]?.requestBytes).toBe(data.length);
    expect((await stored('mono', digest))?.equals(data)).toBe(true);
    expect(events.at(-1)).toMatchObject({ id: digest, done: data.length, total: data.length, phase: 'done' });

    proxy.resetStats();
    expect(await client.uploadBlob(repo('mono'), sourceOf(data), { digest })).toEqual({
      digest,
      size: data.length,
      how: 'existed',
    });
    expect(log()).toEqual([`HEAD /v2/pd/mono/blobs/${digest} 200`]);
  });

  test('small blobs try the single POST with digest; distribution declines (202), so PUT follows, once', async () => {
    const fresh = new RegistryClient({ dockerConfig: false });
    const a = randomData(10_000);
    const b = randomData(12_000);
    // The declined POST's bytes go again with the PUT, kept from the first reading: the source
    // (a remote blob, when copying) is opened once.
    let opens = 0;
    const counted = (data: Buffer) => () => {
      opens++;
      return sourceOf(data)();
    };
    await fresh.uploadBlob(repo('single'), counted(a), { digest: sha256(a), size: a.length });
    expect(opens).toBe(1);
    await fresh.uploadBlob(repo('single'), counted(b), { digest: sha256(b), size: b.length });
    expect(opens).toBe(2);
    const posts = proxy.requests({ method: 'POST' });
    expect(posts.map((p) => [p.url.includes('digest='), p.requestBytes, p.status])).toEqual([
      [true, a.length, 202],
      [false, 0, 202],
    ]);
    expect(proxy.requests({ method: 'PUT' }).map((p) => p.requestBytes)).toEqual([a.length, b.length]);
    expect((await stored('single', sha256(a)))?.equals(a)).toBe(true);
    expect((await stored('single', sha256(b)))?.equals(b)).toBe(true);
    await fresh.close();
  });

  test('unknown digest: one streaming PATCH hashed on the way, then PUT ?digest=', async () => {
    const data = randomData(3 * MiB + 123);
    const r = await client.uploadBlob(repo('stream'), sourceOf(data, 100_000));
    expect(r).toEqual({ digest: sha256(data), size: data.length, how: 'uploaded' });
    expect(log()).toEqual([
      'POST /v2/pd/stream/blobs/uploads/ 202',
      'PATCH /v2/pd/stream/blobs/uploads/<id> 202',
      'PUT /v2/pd/stream/blobs/uploads/<id> 201',
    ]);
    expect(proxy.requests({ method: 'PATCH' })[0]?.requestBytes).toBe(data.length);
    expect(proxy.requests({ method: 'PUT' })[0]?.url).toContain(`digest=${encodeURIComponent(r.digest)}`);
    expect((await stored('stream', r.digest))?.equals(data)).toBe(true);
  });

  test('chunked: PATCH per chunk, then PUT', async () => {
    const data = randomData(3 * MiB + MiB / 2);
    const r = await client.uploadBlob(repo('chunked'), sourceOf(data, 300_000), { chunkSize: MiB });
    expect(r.digest).toBe(sha256(data));
    const patches = proxy.requests({ method: 'PATCH' });
    expect(patches.map((p) => p.requestBytes)).toEqual([MiB, MiB, MiB, MiB / 2]);
    expect((await stored('chunked', r.digest))?.equals(data)).toBe(true);
  });

  test('a failed PATCH: the client asks the registry where the upload stands and resumes there', async () => {
    const data = randomData(3 * MiB);
    proxy.inject({ method: 'PATCH', skip: 1, times: 1, fault: { kind: 'reset' } });
    const r = await client.uploadBlob(repo('resume'), sourceOf(data), { chunkSize: MiB });
    expect(r.digest).toBe(sha256(data));
    expect(log()).toEqual([
      'POST /v2/pd/resume/blobs/uploads/ 202',
      'PATCH /v2/pd/resume/blobs/uploads/<id> 202',
      'PATCH /v2/pd/resume/blobs/uploads/<id> -1',
      'GET /v2/pd/resume/blobs/uploads/<id> 204',
      'PATCH /v2/pd/resume/blobs/uploads/<id> 202',
      'PATCH /v2/pd/resume/blobs/uploads/<id> 202',
      'PUT /v2/pd/resume/blobs/uploads/<id> 201',
    ]);
    // Each byte reached the registry once.
    expect(
      proxy.requests({ method: 'PATCH' }).reduce((n, p) => n + (p.status === 202 ? p.requestBytes : 0), 0),
    ).toBe(data.length);
    expect((await stored('resume', r.digest))?.equals(data)).toBe(true);
  });

  test('when the registry lost the session, the upload starts over from a re-opened source', async () => {
    const data = randomData(2 * MiB);
    let opened = 0;
    const open = sourceOf(data);
    proxy.inject({ method: 'PATCH', skip: 1, times: 1, fault: { kind: 'reset' } });
    proxy.inject({
      method: 'GET',
      path: '/blobs/uploads/',
      times: 1,
      fault: { kind: 'status', status: 404, code: 'BLOB_UPLOAD_UNKNOWN' },
    });
    const r = await client.uploadBlob(
      repo('restart'),
      () => {
        opened++;
        return open();
      },
      { chunkSize: MiB },
    );
    expect(r.digest).toBe(sha256(data));
    expect(opened).toBe(2);
    expect(proxy.requests({ method: 'POST' })).toHaveLength(2);
    expect((await stored('restart', r.digest))?.equals(data)).toBe(true);
  });

  test('a PUT cut off by a reset is retried from a re-opened source', async () => {
    const data = randomData(MiB);
    let opened = 0;
    proxy.inject({ method: 'PUT', times: 1, fault: { kind: 'reset' } });
    const r = await client.uploadBlob(
      repo('reput'),
      () => {
        opened++;
        return sourceOf(data)();
      },
      { digest: sha256(data), size: data.length },
    );
    expect(r.how).toBe('uploaded');
    expect(opened).toBe(2);
    expect((await stored('reput', r.digest))?.equals(data)).toBe(true);
  });

  test('a source that does not match its digest is refused and never completes on the registry', async () => {
    const data = randomData(MiB);
    const claimed = sha256(Buffer.from('something else'));
    const err = await client
      .uploadBlob(repo('liar'), sourceOf(data), { digest: claimed, size: data.length })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect(await stored('liar', claimed)).toBeUndefined();
    expect(await stored('liar', sha256(data))).toBeUndefined();
  });

  test('sourceVerified skips the local hash, and a source that lied is still refused by the registry', async () => {
    const data = randomData(MiB);
    const ok = await client.uploadBlob(repo('trusted'), sourceOf(data), {
      digest: sha256(data),
      size: data.length,
      sourceVerified: true,
    });
    expect(ok).toMatchObject({ how: 'uploaded', digest: sha256(data), size: data.length });
    expect((await stored('trusted', ok.digest))?.equals(data)).toBe(true);

    const claimed = sha256(Buffer.from('something else'));
    const err = await client
      .uploadBlob(repo('trusted-liar'), sourceOf(data), {
        digest: claimed,
        size: data.length,
        sourceVerified: true,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).codes).toContain('DIGEST_INVALID');
    expect(await stored('trusted-liar', claimed)).toBeUndefined();
  });

  describe('from a file (`file`): over plain HTTP straight from the file onto a socket', () => {
    const files = tempDir('pd-upload-file-');
    afterAll(() => files.cleanup());
    /** `data` written into a file at `start`, between other bytes. */
    const inFile = (name: string, data: Buffer, start = 0) => {
      const path = join(files.dir, name);
      writeFileSync(path, Buffer.concat([randomData(start), data, randomData(start > 0 ? 4096 : 0)]));
      return { path, start };
    };
    const never = () => Promise.reject(new Error('the file is read, not the stream'));

    test('the bytes at start..start+size go in one PUT; open() is not called', async () => {
      const data = randomData(5 * MiB + 123);
      const digest = sha256(data);
      const events: ProgressEvent[] = [];
      const r = await client.uploadBlob(repo('file'), never, {
        digest,
        size: data.length,
        file: inFile('blob-at', data, 10_000),
        onProgress: (e) => events.push(e),
      });
      expect(r).toEqual({ digest, size: data.length, how: 'uploaded' });
      expect(log()).toEqual([
        `HEAD /v2/pd/file/blobs/${digest} 404`,
        'POST /v2/pd/file/blobs/uploads/ 202',
        'PUT /v2/pd/file/blobs/uploads/<id> 201',
      ]);
      expect(proxy.requests({ method: 'PUT' })[0]?.requestBytes).toBe(data.length);
      expect((await stored('file', digest))?.equals(data)).toBe(true);
      expect(events.some((e) => e.phase === 'upload' && e.done === data.length)).toBe(true);
      expect(events.at(-1)).toMatchObject({ id: digest, done: data.length, phase: 'done' });
    });

    test('a file that is not the blob it claims is refused before its last chunk leaves', async () => {
      const data = randomData(3 * MiB);
      const claimed = sha256(Buffer.from('something else'));
      const err = await client
        .uploadBlob(repo('file-liar'), never, {
          digest: claimed,
          size: data.length,
          file: inFile('liar', data),
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
      // The PUT never completed: the registry saw less than Content-Length and stored nothing.
      expect(proxy.requests({ method: 'PUT' }).every((r) => r.status !== 201)).toBe(true);
      expect(await stored('file-liar', claimed)).toBeUndefined();
      expect(await stored('file-liar', sha256(data))).toBeUndefined();
    });

    test('a file shorter than the blob, or missing, fails as the source, never as the registry', async () => {
      const data = randomData(MiB);
      const short = await client
        .uploadBlob(repo('file-short'), never, {
          digest: sha256(data),
          size: data.length + 1,
          file: inFile('short', data),
        })
        .catch((e: unknown) => e);
      expect(short).toBeInstanceOf(SizeMismatchError);
      const missing = await client
        .uploadBlob(repo('file-missing'), never, {
          digest: sha256(data),
          size: data.length,
          file: { path: join(files.dir, 'nope') },
        })
        .catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(UploadSourceError);
      expect((missing as Error).message).toMatch(/ENOENT|no such file/);
    });

    test('a PUT cut off by a reset is sent again from the file', async () => {
      const data = randomData(2 * MiB);
      proxy.inject({ method: 'PUT', times: 1, fault: { kind: 'reset' } });
      const r = await client.uploadBlob(repo('file-reput'), never, {
        digest: sha256(data),
        size: data.length,
        file: inFile('reput', data),
      });
      expect(r.how).toBe('uploaded');
      expect(proxy.requests({ method: 'PUT' }).map((x) => x.status)).toContain(201);
      expect((await stored('file-reput', r.digest))?.equals(data)).toBe(true);
    });

    test("an error status of the PUT is the registry's typed error, as through undici", async () => {
      const data = randomData(MiB);
      proxy.inject({
        method: 'PUT',
        times: 10,
        fault: { kind: 'status', status: 400, code: 'DIGEST_INVALID' },
      });
      const err = await client
        .uploadBlob(repo('file-400'), never, {
          digest: sha256(data),
          size: data.length,
          file: inFile('e400', data),
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).codes).toContain('DIGEST_INVALID');
      expect((err as RegistryError).status).toBe(400);

      // A 503 is worth another try: the upload starts over and succeeds.
      proxy.clearFaults();
      proxy.resetStats();
      proxy.inject({ method: 'PUT', times: 1, fault: { kind: 'status', status: 503 } });
      const r = await client.uploadBlob(repo('file-503'), never, {
        digest: sha256(data),
        size: data.length,
        file: inFile('e503', data),
      });
      expect(r.how).toBe('uploaded');
      expect(proxy.requests({ method: 'PUT' }).map((x) => x.status)).toEqual([503, 201]);
    });
  });

  describe('from another registry (`from`): the GET poured into the PUT, socket to socket', () => {
    let source: RunningRegistry;
    let sourceProxy: FaultProxy;
    const at = (name: string) => ({ registry: sourceProxy.host, repository: `pd/${name}` });
    const never = () => Promise.reject(new Error('the source registry is read, not the stream'));
    /** A blob of `size` random bytes, stored in the source registry's `name` (through its proxy). */
    const seed = async (name: string, size: number) => {
      const data = randomData(size);
      const digest = sha256(data);
      await client.uploadBlob(at(name), sourceOf(data), { digest, size });
      sourceProxy.resetStats();
      return { data, digest };
    };
    const gets = () => sourceProxy.requests({ method: 'GET' }).map((r) => r.status);

    beforeAll(async () => {
      source = await startRegistry();
      sourceProxy = await startFaultProxy(source.url);
    });
    afterEach(() => {
      sourceProxy.clearFaults();
      sourceProxy.resetStats();
    });
    afterAll(async () => {
      await sourceProxy?.stop();
      await source?.stop();
    });

    test('one GET at the source, one PUT at the target, the same bytes; open() is not called', async () => {
      const { data, digest } = await seed('pipe', 5 * MiB + 321);
      const events: ProgressEvent[] = [];
      const r = await client.uploadBlob(repo('pipe'), never, {
        digest,
        size: data.length,
        from: at('pipe'),
        onProgress: (e) => events.push(e),
      });
      expect(r).toEqual({ digest, size: data.length, how: 'uploaded' });
      expect(log()).toEqual([
        `HEAD /v2/pd/pipe/blobs/${digest} 404`,
        'POST /v2/pd/pipe/blobs/uploads/ 202',
        'PUT /v2/pd/pipe/blobs/uploads/<id> 201',
      ]);
      expect(sourceProxy.requests().map((x) => `${x.method} ${x.path} ${x.status}`)).toEqual([
        `GET /v2/pd/pipe/blobs/${digest} 200`,
      ]);
      expect(proxy.requests({ method: 'PUT' })[0]?.requestBytes).toBe(data.length);
      expect((await stored('pipe', digest))?.equals(data)).toBe(true);
      expect(events.some((e) => e.phase === 'upload' && e.done === data.length)).toBe(true);
      expect(events.at(-1)).toMatchObject({ id: digest, done: data.length, phase: 'done' });
    });

    test('bytes that are not the blob fail the upload as a digest mismatch; nothing is stored', async () => {
      // That the last buffer never leaves is socket-download.test.ts's; here, the whole way.
      const { data, digest } = await seed('pipe-flip', 3 * MiB);
      sourceProxy.inject({ method: 'GET', path: '/blobs/', fault: { kind: 'flip-byte' } });
      const err = await client
        .uploadBlob(repo('pipe-flip'), never, { digest, size: data.length, from: at('pipe-flip') })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
      expect(gets()).toEqual([200]);
      expect(await stored('pipe-flip', digest)).toBeUndefined();
    });

    test('a source without the blob (404), or one that resets before a byte left: open() instead', async () => {
      const data = randomData(2 * MiB);
      const digest = sha256(data);
      let opened = 0;
      const open = () => {
        opened++;
        return sourceOf(data)();
      };
      const r = await client.uploadBlob(repo('pipe-404'), open, {
        digest,
        size: data.length,
        from: at('nowhere'),
      });
      expect(r.how).toBe('uploaded');
      expect(opened).toBe(1);
      expect(gets()).toEqual([404]);
      expect((await stored('pipe-404', digest))?.equals(data)).toBe(true);

      const seeded = await seed('pipe-reset', 2 * MiB);
      sourceProxy.inject({ method: 'GET', path: '/blobs/', times: 1, fault: { kind: 'reset' } });
      opened = 0;
      const r2 = await client.uploadBlob(
        repo('pipe-reset'),
        () => {
          opened++;
          return sourceOf(seeded.data)();
        },
        { digest: seeded.digest, size: seeded.data.length, from: at('pipe-reset') },
      );
      expect(r2.how).toBe('uploaded');
      expect(opened).toBe(1);
      expect((await stored('pipe-reset', seeded.digest))?.equals(seeded.data)).toBe(true);
    });

    test('a PUT reset by the target stops the GET too; the upload starts over and pipes again', async () => {
      const { data, digest } = await seed('pipe-put-reset', 3 * MiB);
      proxy.inject({ method: 'PUT', times: 1, fault: { kind: 'reset' } });
      let opened = 0;
      const r = await client.uploadBlob(
        repo('pipe-put-reset'),
        () => {
          opened++;
          return never();
        },
        { digest, size: data.length, from: at('pipe-put-reset') },
      );
      expect(r.how).toBe('uploaded');
      // The failed PUT is the upload's to retry; the source stream is no fallback for it.
      expect(opened).toBe(0);
      expect(proxy.requests({ method: 'PUT' }).map((x) => x.status)).toContain(201);
      expect((await stored('pipe-put-reset', digest))?.equals(data)).toBe(true);
    });

    test('a GET cut after bytes went on fails that PUT; the upload starts over and pipes again', async () => {
      const { data, digest } = await seed('pipe-cut', 4 * MiB);
      sourceProxy.inject({
        method: 'GET',
        path: '/blobs/',
        times: 1,
        fault: { kind: 'reset-body', afterBytes: 2 * MiB + 17 },
      });
      const r = await client.uploadBlob(repo('pipe-cut'), never, {
        digest,
        size: data.length,
        from: at('pipe-cut'),
      });
      expect(r.how).toBe('uploaded');
      expect(gets()).toHaveLength(2);
      expect(proxy.requests({ method: 'PUT' }).at(-1)?.status).toBe(201);
      expect((await stored('pipe-cut', digest))?.equals(data)).toBe(true);
    });
  });

  test('503 and 429 on POST are retried', async () => {
    const data = randomData(300_000);
    proxy.inject({ method: 'POST', times: 1, fault: { kind: 'status', status: 503 } });
    proxy.inject({ method: 'POST', times: 1, fault: { kind: 'status', status: 429, retryAfter: '0' } });
    const r = await client.uploadBlob(repo('retry'), sourceOf(data), {
      digest: sha256(data),
      size: data.length,
    });
    expect(r.how).toBe('uploaded');
    expect(proxy.requests({ method: 'POST' }).map((p) => p.status)).toEqual([503, 429, 202]);
  });

  test('cross-repository mount: 201 links the blob; a declined mount (202) falls back to uploading', async () => {
    const data = randomData(400_000);
    const digest = sha256(data);
    await client.uploadBlob(repo('mount-src'), sourceOf(data), { digest, size: data.length });
    proxy.resetStats();

    expect(await client.mountBlob(repo('mount-dst'), digest, repo('mount-src'))).toBe(true);
    expect(log()).toEqual([`POST /v2/pd/mount-dst/blobs/uploads/ 201`]);
    expect(proxy.requests({ method: 'POST' })[0]?.url).toContain(
      `mount=${encodeURIComponent(digest)}&from=pd%2Fmount-src`,
    );
    expect((await stored('mount-dst', digest))?.equals(data)).toBe(true);

    // The source repository does not hold it: the registry opens an upload instead (202).
    proxy.resetStats();
    expect(await client.mountBlob(repo('mount-dst2'), digest, repo('nowhere'))).toBe(false);
    expect(log()).toEqual([
      'POST /v2/pd/mount-dst2/blobs/uploads/ 202',
      'DELETE /v2/pd/mount-dst2/blobs/uploads/<id> 204',
    ]);

    proxy.resetStats();
    const r = await client.uploadBlob(repo('mount-dst3'), sourceOf(data), {
      digest,
      size: data.length,
      mountFrom: [repo('nowhere')],
    });
    expect(r.how).toBe('uploaded');
    // No HEAD before a mount (a 201 would answer it); after a declined one, the HEAD asks whether
    // the target has the blob anyway. The session the declined mount opened gets the bytes.
    expect(log()).toEqual([
      'POST /v2/pd/mount-dst3/blobs/uploads/ 202',
      `HEAD /v2/pd/mount-dst3/blobs/${digest} 404`,
      'PUT /v2/pd/mount-dst3/blobs/uploads/<id> 201',
    ]);

    // The target holds the blob, the named source does not: declined mount, HEAD, nothing sent.
    proxy.resetStats();
    const held = await client.uploadBlob(repo('mount-dst3'), sourceOf(data), {
      digest,
      size: data.length,
      mountFrom: repo('nowhere'),
    });
    expect(held).toEqual({ digest, size: data.length, how: 'existed' });
    expect(log()).toEqual([
      'POST /v2/pd/mount-dst3/blobs/uploads/ 202',
      `HEAD /v2/pd/mount-dst3/blobs/${digest} 200`,
      'DELETE /v2/pd/mount-dst3/blobs/uploads/<id> 204',
    ]);

    const m = await client.uploadBlob(repo('mount-dst4'), sourceOf(data), {
      digest,
      size: data.length,
      mountFrom: repo('mount-src'),
    });
    expect(m).toEqual({ digest, size: data.length, how: 'mounted' });
    // A bare repository path names a repository of the same registry, like the API's from=.
    expect(await client.mountBlob(repo('mount-dst5'), digest, 'pd/mount-src')).toBe(true);
    const bare = await client.uploadBlob(repo('mount-dst6'), sourceOf(data), {
      digest,
      mountFrom: 'pd/mount-src',
    });
    expect(bare).toEqual({ digest, size: data.length, how: 'mounted' });
  });
});
