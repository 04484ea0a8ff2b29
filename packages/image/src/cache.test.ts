import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { DigestMismatchError, digestOf, SizeMismatchError } from '@pd/oci-types';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { BlobCache, defaultCacheDir } from './cache.js';
import { CacheMissError } from './errors.js';

async function collect(s: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A stream of `data` in small pieces, yielding to the event loop between them. */
function trickle(data: Buffer, piece = 1000): Readable {
  return Readable.from(
    (async function* () {
      for (let o = 0; o < data.length; o += piece) {
        await new Promise((r) => setImmediate(r));
        yield data.subarray(o, o + piece);
      }
    })(),
  );
}

describe('BlobCache', () => {
  let dir: string;
  let cache: BlobCache;
  const data = randomBytes(200_000);
  const digest = digestOf(data);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pd-cache-test-'));
    cache = new BlobCache(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('defaultCacheDir: PD_CACHE_DIR, then XDG_CACHE_HOME/pd, then ~/.cache/pd', () => {
    expect(defaultCacheDir({ PD_CACHE_DIR: '/x', XDG_CACHE_HOME: '/y' })).toBe('/x');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/y' })).toBe('/y/pd');
    expect(defaultCacheDir({})).toMatch(/\/\.cache\/pd$/);
  });

  test('blobs/ and tmp/ are private (0700): created so, and tightened when an older pd left them open', async () => {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true, mode: 0o755 });
    chmodSync(join(dir, 'blobs'), 0o755);
    await cache.ingest(digest, () => Readable.from([data]));
    expect(statSync(join(dir, 'blobs')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'tmp')).mode & 0o777).toBe(0o700);
    chmodSync(join(dir, 'blobs'), 0o755);
    await new BlobCache(dir).list();
    expect(statSync(join(dir, 'blobs')).mode & 0o777).toBe(0o700);
    const fresh = new BlobCache(join(dir, 'new', 'pd'));
    await fresh.ingest(digest, () => Readable.from([data]));
    expect(statSync(fresh.dir).mode & 0o777).toBe(0o700);
  });

  test('the first write sweeps partial downloads of dead processes from tmp/, not those of live ones', async () => {
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const live = spawn('sleep', ['60']);
    try {
      const deadTemp = join(dir, 'tmp', `0123456789abcdef-${dead}-${randomUUID()}`);
      const liveTemp = join(dir, 'tmp', `0123456789abcdef-${live.pid}-${randomUUID()}`);
      writeFileSync(deadTemp, 'partial');
      writeFileSync(liveTemp, 'partial');
      await cache.ingest(digest, () => Readable.from([data]));
      expect(readdirSync(join(dir, 'tmp')).sort()).toEqual([basename(liveTemp)]);
    } finally {
      live.kill('SIGKILL');
    }
  });

  test('ingest stores verified content at blobs/sha256/<hex>; a wrong digest stores nothing', async () => {
    const path = await cache.ingest(digest, () => trickle(data), { size: data.length });
    expect(path).toBe(join(dir, 'blobs', 'sha256', digest.slice(7)));
    expect(readFileSync(path).equals(data)).toBe(true);
    expect(await cache.size(digest)).toBe(data.length);
    // Present: the source is not even opened.
    await cache.ingest(digest, () => {
      throw new Error('opened');
    });

    const bad = Buffer.from(data);
    bad[1234] = (bad[1234] ?? 0) ^ 1;
    const other = digestOf(randomBytes(10));
    await expect(cache.ingest(other, () => trickle(bad))).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await cache.has(other)).toBe(false);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  test('a stored blob is refused, and kept, when the caller expects another size', async () => {
    await cache.ingest(digest, () => trickle(data), { size: data.length });
    // A manifest that lies about the size of a blob we hold must not be trusted for it.
    await expect(cache.open(digest, { size: data.length + 512 })).rejects.toBeInstanceOf(SizeMismatchError);
    await expect(cache.ingest(digest, () => trickle(data), { size: data.length - 1 })).rejects.toBeInstanceOf(
      SizeMismatchError,
    );
    expect(await cache.has(digest)).toBe(true);
    expect((await collect(await cache.open(digest, { size: data.length }))).equals(data)).toBe(true);
  });

  test('tee passes the bytes through and stores them before the stream ends', async () => {
    const out = cache.tee(digest, trickle(data), { size: data.length });
    let storedAtEnd = false;
    out.on('end', () => {
      storedAtEnd = readdirSync(join(dir, 'blobs', 'sha256')).includes(digest.slice(7));
    });
    expect((await collect(out)).equals(data)).toBe(true);
    expect(storedAtEnd).toBe(true);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  test('tee: a corrupt source fails the stream and leaves nothing; so does a consumer that stops', async () => {
    const bad = Buffer.from(data);
    bad[0] = (bad[0] ?? 0) ^ 0xff;
    await expect(collect(cache.tee(digest, trickle(bad)))).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await cache.has(digest)).toBe(false);

    const early = cache.tee(digest, trickle(data));
    for await (const _ of early) break; // destroys the stream after the first chunk
    await new Promise((r) => setTimeout(r, 50));
    expect(await cache.has(digest)).toBe(false);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  test('open verifies: rotten bytes at rest fail and the entry is dropped', async () => {
    await expect(cache.open(digest)).rejects.toBeInstanceOf(CacheMissError);
    await cache.ingest(digest, () => trickle(data));
    expect((await collect(await cache.open(digest))).equals(data)).toBe(true);
    const rotten = Buffer.from(data);
    rotten[99] = (rotten[99] ?? 0) ^ 1;
    writeFileSync(cache.path(digest), rotten);
    // Another instance (a later process) did not see the bytes come in: it hashes them.
    const later = new BlobCache(dir);
    await expect(collect(await later.open(digest))).rejects.toBeInstanceOf(DigestMismatchError);
    await new Promise((r) => setTimeout(r, 20));
    expect(await later.has(digest)).toBe(false);
  });

  test('blobs an instance stored are read back without a second hash, unless verify is asked for', async () => {
    await cache.ingest(digest, () => trickle(data));
    const rotten = Buffer.from(data);
    rotten[5] = (rotten[5] ?? 0) ^ 1;
    writeFileSync(cache.path(digest), rotten); // what only a second hash would notice
    expect((await collect(await cache.open(digest))).equals(rotten)).toBe(true);
    await expect(collect(await cache.open(digest, { verify: true }))).rejects.toBeInstanceOf(
      DigestMismatchError,
    );
    // A removed blob is forgotten: stored again from elsewhere, it is verified again.
    await cache.remove(digest);
    writeFileSync(cache.path(digest), rotten);
    await expect(collect(await cache.open(digest))).rejects.toBeInstanceOf(DigestMismatchError);
  });

  test('concurrent writers (separate instances, as separate processes) never expose a partial blob', async () => {
    const caches = [cache, new BlobCache(dir), new BlobCache(dir)];
    const readers: Promise<void>[] = [];
    let stop = false;
    // Readers poll while the writers race: whatever they can open is the whole blob.
    for (let r = 0; r < 3; r++) {
      readers.push(
        (async () => {
          while (!stop) {
            if (await cache.has(digest)) {
              expect((await collect(await cache.open(digest, { verify: false }))).equals(data)).toBe(true);
            }
            await new Promise((res) => setImmediate(res));
          }
        })(),
      );
    }
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        i % 2 === 0
          ? collect(caches[i % 3]!.tee(digest, trickle(data, 700 + i)))
          : // ingest checks presence first; bypass that by racing fresh instances from the start
            new BlobCache(dir).ingest(digest, () => trickle(data, 900 + i)),
      ),
    );
    stop = true;
    await Promise.all(readers);
    expect(readFileSync(cache.path(digest)).equals(data)).toBe(true);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  test('list and prune: by age, by a byte budget (least recently used first), dry run, stale temps', async () => {
    const blobs = [randomBytes(1000), randomBytes(2000), randomBytes(3000)];
    const digests = blobs.map((b) => digestOf(b));
    for (const [i, b] of blobs.entries()) await cache.ingest(digests[i]!, () => Readable.from([b]));
    const day = 24 * 3600;
    const now = Date.now() / 1000;
    // Last used: blob 0 ten days ago, blob 1 two days ago, blob 2 now.
    utimesSync(cache.path(digests[0]!), now - 10 * day, now - 10 * day);
    utimesSync(cache.path(digests[1]!), now - 2 * day, now - 2 * day);
    const listed = await cache.list();
    expect(listed.map((e) => [e.digest, e.size])).toEqual([
      [digests[2], 3000],
      [digests[1], 2000],
      [digests[0], 1000],
    ]);

    const dry = await cache.prune({ olderThan: 5 * day * 1000, dryRun: true });
    expect(dry.removed.map((e) => e.digest)).toEqual([digests[0]]);
    expect(await cache.has(digests[0]!)).toBe(true);

    writeFileSync(join(dir, 'tmp', 'stale'), 'x');
    utimesSync(join(dir, 'tmp', 'stale'), now - 2 * day, now - 2 * day);
    writeFileSync(join(dir, 'tmp', 'fresh'), 'x');
    const aged = await cache.prune({ olderThan: new Date(Date.now() - 5 * day * 1000) });
    expect(aged).toMatchObject({ freed: 1000, kept: 5000 });
    expect(readdirSync(join(dir, 'tmp'))).toEqual(['fresh']);

    // Reading a blob makes it recently used: blob 1 now outlives blob 2 under a budget.
    await collect(await cache.open(digests[1]!));
    const budget = await cache.prune({ keep: 2500 });
    expect(budget.removed.map((e) => e.digest)).toEqual([digests[2]]);
    expect((await cache.list()).map((e) => e.digest)).toEqual([digests[1]]);
  });
});
