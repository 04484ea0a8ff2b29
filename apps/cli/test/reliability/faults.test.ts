import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  dockerMissing,
  type FaultProxy,
  type FaultRule,
  freePort,
  type LargeImage,
  largeImage,
  type RunningRegistry,
  registryMissing,
  startFaultProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectCleanFailure, isolatedEnv, pd } from './support.js';

const missing = registryMissing() ?? dockerMissing();

/**
 * The fault proxy sits between pd and the real registry and breaks what a flaky network and an
 * overloaded registry break: connections cut in the middle of a body, 500/503 answers, 429 with
 * Retry-After. pd must finish and produce exactly what a clean run produces; against a registry
 * that never recovers it must give up within a bounded time.
 */
describe.skipIf(missing)('network faults', () => {
  let source: RunningRegistry;
  let sourceProxy: FaultProxy;
  let image: LargeImage;
  let ref: string;
  let cleanTar: string;
  const iso = isolatedEnv();
  const fresh = () => mkdtempSync(join(iso.dir, 'case-'));
  const run = (args: string[], dir: string, timeout = 90_000) =>
    pd(args, { env: { ...iso.env, PD_CACHE_DIR: join(dir, 'cache') }, timeout });

  beforeAll(async () => {
    source = await startRegistry();
    sourceProxy = await startFaultProxy(source.url);
    // busybox plus three ~4 MB layers: big enough for a cut in the middle of a body.
    image = await largeImage(source, { sizeMB: 24, layers: 3 });
    ref = `${sourceProxy.host}/${image.repository}:${image.tag}`;
    const dir = fresh();
    cleanTar = join(dir, 'clean.tar');
    const r = await run(['pull', ref, '-o', cleanTar], dir);
    expect(r.code, r.stderr).toBe(0);
  });
  afterEach(() => sourceProxy.clearFaults());
  afterAll(async () => {
    await sourceProxy?.stop();
    await source?.stop();
    iso.cleanup();
  });

  /** Rules that fire at least once each, then a steady 20% of connections cut mid-body. */
  const flakyDownloads = (): FaultRule[] => [
    { method: 'GET', path: /\/blobs\//, fault: { kind: 'reset-body', afterBytes: 200_000 }, times: 2 },
    { method: 'GET', path: /\/manifests\//, fault: { kind: 'status', status: 503 }, times: 1 },
    { method: 'HEAD', path: /\/manifests\//, fault: { kind: 'status', status: 503 }, times: 1 },
    { method: 'GET', path: /\/blobs\//, fault: { kind: 'status', status: 500 }, times: 1 },
    {
      method: 'GET',
      path: /\/blobs\//,
      fault: { kind: 'status', status: 429, retryAfter: '1', code: 'TOOMANYREQUESTS' },
      times: 2,
    },
    {
      method: 'GET',
      path: /\/blobs\//,
      fault: { kind: 'reset-body', afterBytes: 100_000 },
      probability: 0.2,
    },
  ];

  it('pull through cut connections, 500/503 and 429 + Retry-After writes the same bytes as a clean pull', async () => {
    const handles = flakyDownloads().map((rule) => sourceProxy.inject(rule));
    const dir = fresh();
    const out = join(dir, 'faulty.tar');
    const r = await run(['pull', ref, '-o', out], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).equals(readFileSync(cleanTar))).toBe(true);
    // Every deterministic fault really happened (the last rule is random).
    expect(handles.slice(0, -1).map((h) => h.hits)).toEqual([2, 1, expect.any(Number), 1, 2]);
    expect(
      sourceProxy.requests({ method: 'GET' }).filter((q) => q.fault === 'reset-body').length,
    ).toBeGreaterThanOrEqual(2);
  });

  it('push through cut connections, 500/503 and 429 + Retry-After gives the manifest a clean push gives', async () => {
    const clean = await startRegistry();
    const target = await startRegistry();
    const proxy = await startFaultProxy(target.url);
    try {
      const dir = fresh();
      const c = await run(['push', '--json', cleanTar, `${clean.host}/faults/app:1`], dir);
      expect(c.code, c.stderr).toBe(0);
      const cleanDigest = (JSON.parse(c.stdout) as { digest: string }).digest;

      const handles = [
        // Cut before the registry sees the request: a retry is always safe.
        proxy.inject({ method: 'PUT', path: /\/blobs\//, fault: { kind: 'reset' }, times: 2 }),
        proxy.inject({ method: 'PATCH', fault: { kind: 'reset' }, times: 1 }),
        proxy.inject({ method: 'POST', fault: { kind: 'status', status: 503 }, times: 2 }),
        proxy.inject({
          method: 'PUT',
          path: /\/manifests\//,
          fault: { kind: 'status', status: 429, retryAfter: '1', code: 'TOOMANYREQUESTS' },
          times: 1,
        }),
        proxy.inject({ method: 'HEAD', fault: { kind: 'status', status: 500 }, times: 1 }),
        proxy.inject({ fault: { kind: 'reset' }, probability: 0.2 }),
      ];
      const f = await run(['push', '--json', cleanTar, `${proxy.host}/faults/app:1`], fresh());
      expect(f.code, f.stderr).toBe(0);
      expect((JSON.parse(f.stdout) as { digest: string }).digest).toBe(cleanDigest);
      // (PATCH appears only when pd uploads in chunks.)
      expect(handles.slice(0, -1).map((h) => h.hits)).toEqual([2, expect.any(Number), 2, 1, 1]);

      // What the registry holds pulls back (every blob verified) to the clean bytes.
      const back = join(fresh(), 'back.tar');
      const b = await run(['pull', `${proxy.host}/faults/app:1`, '-o', back], fresh());
      expect(b.code, b.stderr).toBe(0);
      const cleanBack = join(fresh(), 'clean-back.tar');
      const cb = await run(['pull', `${clean.host}/faults/app:1`, '-o', cleanBack], fresh());
      expect(cb.code, cb.stderr).toBe(0);
      // Same content; the archives differ only in the registry part of the name they record.
      const strip = (file: string, host: string) =>
        readFileSync(file).toString('latin1').replaceAll(host, 'HOST');
      expect(strip(back, proxy.host)).toBe(strip(cleanBack, clean.host));
    } finally {
      await proxy.stop();
      await Promise.all([clean.stop(), target.stop()]);
    }
  });

  it('a dead registry (nothing listening) fails within 5 s, pull and push alike', async () => {
    const port = await freePort();
    for (const args of [
      ['pull', `127.0.0.1:${port}/dead/app:1`, '-o', join(fresh(), 'x.tar')],
      ['push', cleanTar, `127.0.0.1:${port}/dead/app:1`],
    ]) {
      const t0 = Date.now();
      const r = await run(args, fresh(), 20_000);
      expect(Date.now() - t0).toBeLessThan(5_000);
      expectCleanFailure(r, /127\.0\.0\.1:\d+/);
    }
  });

  /** pull against a registry that always answers `fault`; the requests it sent and the time it took. */
  const hopeless = async (fault: FaultRule['fault'], limit: number) => {
    sourceProxy.inject({ fault });
    sourceProxy.resetStats();
    const t0 = Date.now();
    const r = await run(['pull', ref, '-o', join(fresh(), 'x.tar')], fresh(), limit + 10_000);
    const took = Date.now() - t0;
    const perPath = new Map<string, number>();
    for (const q of sourceProxy.requests()) perPath.set(q.path, (perPath.get(q.path) ?? 0) + 1);
    return { r, took, perPath };
  };
  /** Every attempt went to /v2/; the manifest GET sent beside the first one was not retried. */
  const endedAtPing = (perPath: Map<string, number>) => {
    expect(perPath.get('/v2/')).toBe(5);
    expect([...perPath].filter(([p]) => p !== '/v2/').every(([, n]) => n <= 1)).toBe(true);
  };

  it('a registry that answers 503 to everything: 5 attempts, gives up within 15 s', async () => {
    const { r, took, perPath } = await hopeless({ kind: 'status', status: 503 }, 15_000);
    expectCleanFailure(r, /HTTP 503/);
    expect(took).toBeLessThan(15_000);
    endedAtPing(perPath);
  });

  // One hopeless run serves the two tests below (each run takes seconds of honoured waits).
  let limited: ReturnType<typeof hopeless> | undefined;
  const rateLimited = () => {
    limited ??= hopeless({ kind: 'status', status: 429, retryAfter: '1' }, 15_000);
    return limited;
  };

  it('a registry that answers 429 + Retry-After: 1 to everything: waits as told, at most 5 attempts per request, gives up within 15 s', async () => {
    const { r, took, perPath } = await rateLimited();
    expectCleanFailure(r, /too many requests .*Retry-After: 1/);
    expect(took).toBeLessThan(15_000);
    // Four waits of 1 s at least: Retry-After is honoured, not hammered through.
    expect(took).toBeGreaterThanOrEqual(4 * 1_000);
    for (const n of perPath.values()) expect(n).toBeLessThanOrEqual(5);
  });

  // A 429 that outlasts the budget on GET /v2/ ends the command there: no second budget.
  it('429 that outlasts the budget on /v2/ ends the command there (one round of retries)', async () => {
    const { perPath } = await rateLimited();
    endedAtPing(perPath);
  });
});
