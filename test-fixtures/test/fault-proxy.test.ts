import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  type FaultProxy,
  type RunningRegistry,
  registryMissing,
  startFaultProxy,
  startRegistry,
} from '../src/index.js';

const blob = randomBytes(300_000);
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;

describe.skipIf(registryMissing())('fault proxy in front of the registry', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  const blobUrl = () => `${proxy.url}/v2/fp/test/blobs/${digest}`;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.url);
    // Seed through the proxy: Location headers must point back at the proxy.
    const post = await fetch(`${proxy.url}/v2/fp/test/blobs/uploads/`, { method: 'POST' });
    const location = new URL(post.headers.get('location') ?? '');
    expect(location.host).toBe(proxy.host);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, {
      method: 'PUT',
      body: blob,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(put.status).toBe(201);
  });
  afterEach(() => {
    proxy.clearFaults();
    proxy.resetStats();
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  test('forwards faithfully and counts bytes per path', async () => {
    const res = await fetch(blobUrl());
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(blob)).toBe(true);
    expect(proxy.bytesSent({ path: '/blobs/sha256:' })).toBe(blob.length);
    expect(proxy.requests({ method: 'GET' })).toHaveLength(1);
  });

  test('injected statuses carry Retry-After and a registry error body, `times` bounds them', async () => {
    const rule = proxy.inject({
      path: /\/blobs\//,
      fault: { kind: 'status', status: 429, retryAfter: '3' },
      times: 1,
    });
    const first = await fetch(blobUrl());
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('3');
    expect(await first.json()).toMatchObject({ errors: [{ code: 'TOOMANYREQUESTS' }] });
    const second = await fetch(blobUrl());
    expect(second.status).toBe(200);
    await second.arrayBuffer();
    expect(rule.hits).toBe(1);
  });

  test('skip lets the first matching requests through', async () => {
    const rule = proxy.inject({
      path: /\/blobs\//,
      skip: 1,
      times: 1,
      fault: { kind: 'status', status: 503 },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(blobUrl());
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 503, 200]);
    expect(rule.hits).toBe(1);
  });

  test('reset-body cuts the response after the given number of bytes', async () => {
    proxy.inject({ path: /\/blobs\//, fault: { kind: 'reset-body', afterBytes: 100_000 } });
    const res = await fetch(blobUrl());
    await expect(res.arrayBuffer()).rejects.toThrow();
    expect(proxy.requests()[0]?.responseBytes).toBe(100_000);
  });

  test('reset closes the connection before anything reaches the registry', async () => {
    proxy.inject({ path: /\/blobs\//, fault: { kind: 'reset' } });
    await expect(fetch(blobUrl())).rejects.toThrow();
  });

  test('flip-byte corrupts exactly one byte', async () => {
    proxy.inject({ path: /\/blobs\//, fault: { kind: 'flip-byte', offset: 12345 } });
    const body = Buffer.from(await (await fetch(blobUrl())).arrayBuffer());
    expect(body.length).toBe(blob.length);
    const diff = [...body.keys()].filter((i) => body[i] !== blob[i]);
    expect(diff).toEqual([12345]);
  });

  test('strip-range makes the registry answer 200 with the whole blob; ranges pass otherwise', async () => {
    const ranged = await fetch(blobUrl(), { headers: { range: 'bytes=1000-' } });
    expect(ranged.status).toBe(206);
    expect((await ranged.arrayBuffer()).byteLength).toBe(blob.length - 1000);
    proxy.inject({ path: /\/blobs\//, fault: { kind: 'strip-range' } });
    const full = await fetch(blobUrl(), { headers: { range: 'bytes=1000-' } });
    expect(full.status).toBe(200);
    expect((await full.arrayBuffer()).byteLength).toBe(blob.length);
    expect(proxy.requests().map((r) => r.range)).toEqual(['bytes=1000-', 'bytes=1000-']);
  });

  test('stall sends the headers and then nothing', async () => {
    proxy.inject({ path: /\/blobs\//, fault: { kind: 'stall' } });
    const controller = new AbortController();
    const res = await fetch(blobUrl(), { signal: controller.signal });
    expect(res.status).toBe(200);
    setTimeout(() => controller.abort(), 300);
    await expect(res.arrayBuffer()).rejects.toThrow();
    expect(proxy.requests()[0]?.responseBytes ?? 0).toBe(0);
  });

  test('slow bodies take about length / rate', async () => {
    proxy.inject({ path: /\/blobs\//, fault: { kind: 'slow', bytesPerSecond: 1_000_000 } });
    const start = Date.now();
    await (await fetch(blobUrl())).arrayBuffer();
    // The pause follows each chunk, so the last chunk (up to 64 KiB) arrives without one:
    // at least (300 000 - 65 536) / 1 MB/s = 234 ms, with room for timer rounding.
    expect(Date.now() - start).toBeGreaterThanOrEqual(220);
  });
});
