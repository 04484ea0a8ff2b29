import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  dockerMissing,
  type FaultProxy,
  type Fixtures,
  fixtureImages,
  type RunningRegistry,
  registryMissing,
  startFaultProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, isolatedEnv, PD_MAIN, pd } from './helpers.js';

// What a killed or unlucky pd leaves on disk: the next command repairs it in passing.

const missing = dockerMissing() ?? registryMissing();

describe.skipIf(missing)('pd repairs what faults leave in its cache and outputs', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let fx: Fixtures;
  const iso = isolatedEnv();

  beforeAll(async () => {
    registry = await startRegistry();
    fx = await fixtureImages(registry);
    proxy = await startFaultProxy(registry.url);
  }, 900_000);
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    iso.cleanup();
  });

  it('pull, flip a byte in a cached blob, pull again: one warning, the blob is fetched again', async () => {
    const first = await pd(['pull', fx.layered.ref, '-o', join(iso.dir, 'one.tar')], { env: iso.env });
    expect(first.code, first.stderr).toBe(0);
    // An archive takes registry blobs straight in; a layout is what goes through the cache.
    const seed = await pd(['pull', fx.layered.ref, '-o', join(iso.dir, 'seed')], { env: iso.env });
    expect(seed.code, seed.stderr).toBe(0);
    const layer = fx.layered.layers[0]!.digest;
    const cached = join(iso.env.PD_CACHE_DIR!, 'blobs', 'sha256', layer.slice('sha256:'.length));
    const bytes = readFileSync(cached);
    const at = bytes.length >> 1;
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(cached, bytes);

    const again = await pd(['pull', fx.layered.ref, '-o', join(iso.dir, 'two.tar')], { env: iso.env });
    expect(again.code, again.stderr).toBe(0);
    const warnings = again.stderr.split('\n').filter((l) => l.startsWith('pd: warning:'));
    expect(warnings).toEqual([
      `pd: warning: cached blob ${layer} failed its digest check (its bytes changed on disk): removed; fetching it again`,
    ]);
    expect(`sha256:${createHash('sha256').update(readFileSync(cached)).digest('hex')}`).toBe(layer);
    expect(readFileSync(join(iso.dir, 'two.tar')).equals(readFileSync(join(iso.dir, 'one.tar')))).toBe(true);
    expect(hasStackTrace(again.stderr)).toBe(false);
  });

  it('kill -9 mid-write leaves a temp file; the next write of that output removes it', async () => {
    const out = join(iso.dir, 'killed');
    mkdirSync(out);
    const ref = fx.small.ref.replace(registry.host, proxy.host);
    // The config comes through; the layer hangs, so pd is killed while it writes the archive.
    const stall = proxy.inject({ method: 'GET', path: '/blobs/', skip: 1, fault: { kind: 'stall' } });
    const env = { ...iso.env, PD_CACHE_DIR: join(iso.dir, 'cache-killed') };
    const child = spawn(process.execPath, [PD_MAIN, 'pull', ref, '-o', join(out, 'x.tar')], {
      env,
      stdio: 'ignore',
    });
    const temps = () => readdirSync(out).filter((n) => n.endsWith('.pd-tmp'));
    for (const t0 = Date.now(); temps().length === 0; ) {
      if (Date.now() - t0 > 30_000) throw new Error('pd pull never started writing');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    expect(temps()).toHaveLength(1);
    stall.remove();

    const again = await pd(['pull', ref, '-o', join(out, 'x.tar')], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(readdirSync(out)).toEqual(['x.tar']);
  });
});
