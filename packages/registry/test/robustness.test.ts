import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MediaType } from '@pd/oci-types';
import {
  type FaultProxy,
  freePort,
  missingTools,
  type RunningRegistry,
  registryMissing,
  selfSignedCertificate,
  startFaultProxy,
  startForwardProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import {
  proxyFromEnv,
  RateLimitError,
  RegistryClient,
  RegistryConnectionError,
  RegistryError,
} from '../src/index.js';
import { randomData, readAll, sourceOf, tempDir } from './helpers.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
// The IPv4-mapped IPv6 form of 127.0.0.1: the same socket, but not a loopback *name*, so pd must
// treat it like any remote registry (HTTPS only unless marked insecure).
const mapped = (port: number) => `[::ffff:7f00:1]:${port}`;

describe.skipIf(registryMissing())('retries, deadlines and connection failures', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  const blob = randomData(2 << 20);
  const digest = sha256(blob);
  const fast = { minDelay: 5, maxDelay: 20 };
  const repo = () => ({ registry: proxy.host, repository: 'pd/robust' });

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    const c = new RegistryClient({ dockerConfig: false });
    await c.uploadBlob({ registry: registry.host, repository: 'pd/robust' }, sourceOf(blob), {
      digest,
      size: blob.length,
    });
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest, size: blob.length },
        layers: [],
      }),
    );
    await c.putManifest(`${registry.host}/pd/robust:v1`, manifest, MediaType.OciManifest);
    await c.close();
  });
  afterEach(() => {
    proxy.clearFaults();
    proxy.resetStats();
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  test('429 with Retry-After in seconds is honoured', async () => {
    const client = new RegistryClient({ dockerConfig: false, retry: fast });
    proxy.inject({
      path: /\/manifests\//,
      times: 1,
      fault: { kind: 'status', status: 429, retryAfter: '1' },
    });
    const start = Date.now();
    await client.getManifest(`${proxy.host}/pd/robust:v1`);
    expect(Date.now() - start).toBeGreaterThanOrEqual(950);
    expect(proxy.requests({ path: /\/manifests\// }).map((r) => r.status)).toEqual([429, 200]);
    await client.close();
  });

  test('429 with Retry-After as an HTTP date is honoured', async () => {
    const client = new RegistryClient({ dockerConfig: false, retry: fast });
    // HTTP dates have whole seconds: 2 s ahead waits between 1 and 2 s.
    const when = new Date(Date.now() + 2000).toUTCString();
    proxy.inject({
      path: /\/manifests\//,
      times: 1,
      fault: { kind: 'status', status: 429, retryAfter: when },
    });
    const start = Date.now();
    await client.getManifest(`${proxy.host}/pd/robust:v1`);
    expect(Date.now() - start).toBeGreaterThanOrEqual(900);
    await client.close();
  });

  test('Retry-After is capped', async () => {
    const client = new RegistryClient({ dockerConfig: false, retry: { ...fast, maxRetryAfter: 200 } });
    proxy.inject({
      path: /\/manifests\//,
      times: 1,
      fault: { kind: 'status', status: 503, retryAfter: '3600' },
    });
    const start = Date.now();
    await client.getManifest(`${proxy.host}/pd/robust:v1`);
    expect(Date.now() - start).toBeLessThan(3000);
    await client.close();
  });

  test('persistent 503: bounded attempts, then a RegistryError with the status', async () => {
    const client = new RegistryClient({ dockerConfig: false, retry: { ...fast, attempts: 4 } });
    proxy.inject({ path: /\/manifests\//, fault: { kind: 'status', status: 503 } });
    const err = await client.getManifest(`${proxy.host}/pd/robust:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(503);
    expect((err as RegistryError).message).toContain(`${proxy.host} failed with HTTP 503`);
    expect(proxy.requests({ path: /\/manifests\// })).toHaveLength(4);
    await client.close();
  });

  test('persistent 429: RateLimitError with the registry code and the Retry-After in the hint', async () => {
    const client = new RegistryClient({
      dockerConfig: false,
      retry: { ...fast, attempts: 2, maxRetryAfter: 10 },
    });
    proxy.inject({ path: /\/manifests\//, fault: { kind: 'status', status: 429, retryAfter: '7' } });
    const err = await client.getManifest(`${proxy.host}/pd/robust:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).codes).toEqual(['TOOMANYREQUESTS']);
    expect((err as RateLimitError).hint).toContain('Retry-After: 7');
    await client.close();
  });

  test('persistent 429 on /v2/: RateLimitError there, no second budget spent on the manifest', async () => {
    const client = new RegistryClient({
      dockerConfig: false,
      retry: { ...fast, attempts: 3, maxRetryAfter: 10 },
    });
    proxy.inject({ path: /^\/v2\/$/, fault: { kind: 'status', status: 429, retryAfter: '0' } });
    const err = await client.getManifest(`${proxy.host}/pd/robust:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).message).toContain(`${proxy.host} /v2/: too many requests`);
    expect(proxy.requests({ path: /^\/v2\/$/ })).toHaveLength(3);
    // The manifest GET went out beside the first /v2/ (at most once), and was never retried.
    expect(proxy.requests({ path: /\/manifests\// }).length).toBeLessThanOrEqual(1);
    await client.close();
  });

  test('the first request goes out beside /v2/, not after it: one round trip, not two', async () => {
    const client = new RegistryClient({ dockerConfig: false });
    proxy.inject({ path: /^\/v2\/$/, fault: { kind: 'delay', ms: 400 } });
    const start = performance.now();
    await client.getManifest(`${proxy.host}/pd/robust:v1`);
    const took = performance.now() - start;
    // Only this test's requests: an early request an earlier test dropped (the 429 one above)
    // is logged when the proxy sees its connection close, which may fall after resetStats.
    const since = (path: RegExp) => proxy.requests({ path }).filter((r) => r.startedAt >= start);
    const [ping] = since(/^\/v2\/$/);
    const manifests = since(/\/manifests\//);
    expect(manifests).toHaveLength(1);
    expect(manifests[0]?.startedAt).toBeLessThan(ping?.endedAt ?? 0);
    expect(took).toBeLessThan(750);
    // Once /v2/ has answered, requests go after it as before: no second ping.
    await client.headManifest(`${proxy.host}/pd/robust:v1`);
    expect(since(/^\/v2\/$/)).toHaveLength(1);
    await client.close();
  });

  test('HTTP(S)_PROXY carries registry traffic; loopback names and NO_PROXY hosts go direct', async () => {
    const fwd = await startForwardProxy();
    try {
      const port = Number(registry.host.split(':')[1]);
      const remoteName = mapped(port); // the registry, under a name that is not loopback
      const viaProxy = new RegistryClient({
        dockerConfig: false,
        insecure: true,
        proxy: proxyFromEnv({ HTTPS_PROXY: fwd.url, HTTP_PROXY: fwd.url }),
      });
      expect((await viaProxy.getManifest(`${remoteName}/pd/robust:v1`)).digest).toMatch(/^sha256:/);
      expect(fwd.seen).toContain(`CONNECT ${remoteName}`);
      fwd.seen.length = 0;
      await viaProxy.getManifest(`${registry.host}/pd/robust:v1`);
      expect(fwd.seen).toEqual([]);
      await viaProxy.close();

      const bypass = new RegistryClient({
        dockerConfig: false,
        insecure: true,
        proxy: proxyFromEnv({ https_proxy: fwd.url, http_proxy: fwd.url, no_proxy: remoteName }),
      });
      await bypass.getManifest(`${remoteName}/pd/robust:v1`);
      expect(fwd.seen).toEqual([]);
      await bypass.close();
    } finally {
      await fwd.stop();
    }
  });

  test('the overall deadline stops retries even with attempts left', async () => {
    const client = new RegistryClient({
      dockerConfig: false,
      retry: { attempts: 1000, minDelay: 100, maxDelay: 100, deadline: 600 },
    });
    proxy.inject({ path: /\/manifests\//, fault: { kind: 'status', status: 502 } });
    const start = Date.now();
    const err = await client.getManifest(`${proxy.host}/pd/robust:v1`).catch((e: unknown) => e);
    expect((err as RegistryError).status).toBe(502);
    expect(Date.now() - start).toBeLessThan(1500);
    expect(proxy.requests({ path: /\/manifests\// }).length).toBeLessThan(15);
    await client.close();
  });

  test('random resets mid-body (30%) never corrupt a download', async () => {
    const client = new RegistryClient({ dockerConfig: false, retry: { ...fast, attempts: 20 } });
    proxy.inject({
      path: /\/blobs\/sha256:/,
      method: 'GET',
      probability: 0.3,
      fault: { kind: 'reset-body', afterBytes: 300_000 },
    });
    for (let i = 0; i < 5; i++) {
      const bytes = await readAll(await client.getBlob(repo(), digest, { size: blob.length }));
      expect(sha256(bytes)).toBe(digest);
    }
    await client.close();
  });

  test('a body that stalls past the body timeout is abandoned and resumed from where it stopped', async () => {
    const client = new RegistryClient({ dockerConfig: false, retry: fast, timeout: { body: 300 } });
    // One 64 KiB chunk, then a long pause: the client gives up on this response and resumes.
    proxy.inject({
      path: /\/blobs\/sha256:/,
      method: 'GET',
      times: 1,
      fault: { kind: 'slow', bytesPerSecond: 1000 },
    });
    const bytes = await readAll(await client.getBlob(repo(), digest));
    expect(sha256(bytes)).toBe(digest);
    const gets = proxy.requests({ path: /\/blobs\/sha256:/ });
    expect(gets).toHaveLength(2);
    expect(gets[1]?.range).toBe(`bytes=${gets[0]?.responseBytes}-`);
    await client.close();
  });

  test('a body that never moves gives up after the attempts, naming the timeout', async () => {
    const client = new RegistryClient({
      dockerConfig: false,
      retry: { ...fast, attempts: 2 },
      timeout: { body: 300 },
    });
    proxy.inject({ path: /\/blobs\/sha256:/, method: 'GET', fault: { kind: 'stall' } });
    const err = await readAll(await client.getBlob(repo(), digest)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryConnectionError);
    expect((err as Error).message).toBe(`${proxy.host} stopped answering for 300 ms`);
    // The proxy logs a stalled request once its connection closes, a moment after the client gave up.
    await vi.waitFor(() => expect(proxy.requests({ path: /\/blobs\/sha256:/ })).toHaveLength(2));
    await client.close();
  });

  test('connection refused, unknown host: one-line messages naming the host', async () => {
    const client = new RegistryClient({ dockerConfig: false, retry: fast });
    const port = await freePort();
    const refused = await client.ping(`127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RegistryConnectionError);
    expect((refused as Error).message).toBe(`connection refused by 127.0.0.1:${port}`);
    const unknown = await client.getManifest('pd-no-such-host.invalid/x:1').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(RegistryConnectionError);
    expect((unknown as Error).message).toBe('cannot resolve registry host pd-no-such-host.invalid');
    await client.close();
  });

  test('an already aborted signal fails at once', async () => {
    const client = new RegistryClient({ dockerConfig: false });
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(
      client.getManifest(`${proxy.host}/pd/robust:v1`, { signal: controller.signal }),
    ).rejects.toThrow('stop');
    expect(proxy.log).toHaveLength(0);
    await client.close();
  });

  test('a loopback ping whose plain-HTTP connection is reset stays on HTTP (HTTPS answers in HTTP)', async () => {
    const client = new RegistryClient({ dockerConfig: false, retry: fast });
    proxy.inject({ path: '/v2/', times: 1, fault: { kind: 'reset' } });
    expect((await client.ping(proxy.host)).url).toBe(`http://${proxy.host}`);
    // The reset HTTP attempt, then HTTP again after the TLS handshake got plain HTTP back.
    expect(proxy.requests({ path: '/v2/' }).length).toBeGreaterThanOrEqual(2);
    await client.close();
  });

  test('plain HTTP only for loopback names, or when marked insecure (after trying HTTPS)', async () => {
    const host = mapped(registry.port);
    const strict = new RegistryClient({ dockerConfig: false, retry: fast });
    const err = await strict.ping(host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryConnectionError);
    expect((err as Error).message).toMatch(/^TLS handshake with \[::ffff:7f00:1\]:\d+ failed/);
    expect((err as RegistryConnectionError).hint).toContain('plain HTTP');
    await strict.close();

    const lenient = new RegistryClient({ dockerConfig: false, insecure: [host] });
    expect(await lenient.ping(host)).toMatchObject({
      url: `http://${host}`,
      auth: 'none',
      apiVersion: 'registry/2.0',
    });
    expect((await lenient.getManifest(`${host}/pd/robust:v1`)).mediaType).toBe(MediaType.OciManifest);
    await lenient.close();

    const loopback = new RegistryClient({ dockerConfig: false });
    expect((await loopback.ping(registry.host)).url).toBe(`http://${registry.host}`);
    await loopback.close();
  });
});

describe.skipIf(registryMissing() ?? missingTools('openssl'))('a registry behind TLS', () => {
  let registry: RunningRegistry;
  let tls: Server;
  let port: number;
  const certs = tempDir('pd-reg-tls-');

  beforeAll(async () => {
    registry = await startRegistry();
    const { certificate, key } = selfSignedCertificate(certs.dir, 'localhost');
    // A TLS front for the registry, as a real deployment would terminate TLS.
    tls = createHttpsServer({ key: readFileSync(key), cert: readFileSync(certificate) }, (req, res) => {
      const up = httpRequest(
        { host: '127.0.0.1', port: registry.port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.rawHeaders);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    port = (tls.address() as AddressInfo).port;
  });
  afterAll(async () => {
    tls?.closeAllConnections();
    await new Promise((r) => tls?.close(r));
    await registry?.stop();
    certs.cleanup();
  });

  test('a loopback TLS registry is found over HTTPS once plain HTTP (tried first on loopback) fails', async () => {
    // The front does not send X-Forwarded-Proto, so the registry writes http:// upload
    // Locations for itself: the client must stay on HTTPS for its own host.
    const client = new RegistryClient({ dockerConfig: false });
    expect((await client.ping(`127.0.0.1:${port}`)).url).toBe(`https://127.0.0.1:${port}`);
    const data = Buffer.from('over tls');
    const r = await client.uploadBlob(`127.0.0.1:${port}/pd/tls`, sourceOf(data), {});
    expect(sha256(await readAll(await client.getBlob(`127.0.0.1:${port}/pd/tls`, r.digest)))).toBe(
      sha256(data),
    );
    await client.close();
  });

  test('a blob read from another registry (`from`) crosses TLS at either end socket to socket', async () => {
    const client = new RegistryClient({ dockerConfig: false });
    const tlsHost = `127.0.0.1:${port}`;
    // Large enough for a GET of its own over HTTPS too (smaller ones take the client's connections).
    const data = randomData(9 << 20);
    const digest = sha256(data);
    let opened = 0;
    const open = () => {
      opened++;
      return sourceOf(data)();
    };
    await client.uploadBlob(`${registry.host}/pd/plain`, sourceOf(data), { digest, size: data.length });
    // Plain HTTP source, TLS target: the GET's socket pours into the PUT's TLS socket; the
    // upload's own source is never opened.
    const toTls = await client.uploadBlob(`${tlsHost}/pd/from-plain`, open, {
      digest,
      size: data.length,
      from: `${registry.host}/pd/plain`,
    });
    expect([toTls.how, opened]).toEqual(['uploaded', 0]);
    // TLS source, plain-HTTP target: the GET over TLS pours into the plain PUT.
    const toPlain = await client.uploadBlob(`${registry.host}/pd/from-tls`, open, {
      digest,
      size: data.length,
      from: `${tlsHost}/pd/from-plain`,
    });
    expect([toPlain.how, opened]).toEqual(['uploaded', 0]);
    for (const at of [`${tlsHost}/pd/from-plain`, `${registry.host}/pd/from-tls`])
      expect(sha256(await readAll(await client.getBlob(at, digest)))).toBe(digest);
    // Under 8 MiB a TLS source's GET takes the client's connections: no pipe, the upload reads
    // its own source (its wait for a download slot before the upload's request).
    const small = randomData(700_000);
    const smallDigest = sha256(small);
    await client.uploadBlob(`${tlsHost}/pd/small`, sourceOf(small), {
      digest: smallDigest,
      size: small.length,
    });
    const smallOpen = () => {
      opened++;
      return sourceOf(small)();
    };
    const smallToPlain = await client.uploadBlob(`${registry.host}/pd/small-from-tls`, smallOpen, {
      digest: smallDigest,
      size: small.length,
      from: `${tlsHost}/pd/small`,
    });
    expect([smallToPlain.how, opened]).toEqual(['uploaded', 1]);
    await client.close();
  });

  test('over HTTPS a blob of 8 MiB or more goes both ways on a TLS socket of its own (an upload from a file, a download), a small one through the client', async () => {
    const lines: string[] = [];
    const client = new RegistryClient({ dockerConfig: false, logger: { debug: (m) => lines.push(m) } });
    const repo = `127.0.0.1:${port}/pd/tls-blobs`;
    const { dir, cleanup } = tempDir();
    const how = (socket: boolean, status: number) =>
      expect.stringMatching(new RegExp(`-> ${status} \\(\\d+ ms${socket ? ', socket' : ''}\\)$`));
    try {
      for (const [size, socket] of [
        [9 << 20, true],
        [700_000, false],
      ] as const) {
        const data = randomData(size);
        const digest = sha256(data);
        // Up from the file, the blob 100 bytes into it as an archive member lies; the source is
        // never opened.
        const source = join(dir, `source-${size}`);
        writeFileSync(source, Buffer.concat([randomData(100), data]));
        const notOpened = async () => {
          throw new Error('the file is read, not the source');
        };
        lines.length = 0;
        const r = await client.uploadBlob(repo, notOpened, {
          digest,
          size,
          file: { path: source, start: 100 },
        });
        expect([r.digest, r.how]).toEqual([digest, 'uploaded']);
        // The request that stored it (a POST with the body, or the PUT after a session's POST).
        expect(lines.filter((l) => /^(PUT|POST) .* -> 201 /.test(l))).toEqual([how(socket, 201)]);
        // And down again.
        lines.length = 0;
        const path = join(dir, `blob-${size}`);
        expect((await client.downloadBlob(repo, digest, path, { size })).size).toBe(size);
        expect(sha256(readFileSync(path))).toBe(digest);
        const gets = lines.filter((l) => l.startsWith('GET ') && l.includes('/blobs/'));
        expect(gets).toEqual([expect.stringMatching(/^GET https:\/\//)]);
        expect(gets).toEqual([how(socket, 200)]);
      }
    } finally {
      cleanup();
      await client.close();
    }
  });

  test('an untrusted certificate on a non-loopback name is refused with a hint', async () => {
    const client = new RegistryClient({ dockerConfig: false });
    const err = await client.ping(mapped(port)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryConnectionError);
    expect((err as Error).message).toMatch(
      /^TLS handshake with .* failed \((DEPTH_ZERO_SELF_SIGNED_CERT|ERR_TLS_CERT_ALTNAME_INVALID|SELF_SIGNED_CERT_IN_CHAIN)\)$/,
    );
    expect((err as RegistryConnectionError).hint).toContain('not trusted');
    await client.close();
    const insecure = new RegistryClient({ dockerConfig: false, insecure: true });
    expect((await insecure.ping(mapped(port))).url).toBe(`https://${mapped(port)}`);
    await insecure.close();
  });
});
