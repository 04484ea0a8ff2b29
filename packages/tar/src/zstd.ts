import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { PdError } from '@pd/oci-types';
import { compressBlocks } from './blocks.js';

/**
 * Independent frames of this size: a sequence of zstd frames is one valid zstd stream, so the
 * frames can be compressed in parallel. 4 MiB keeps the ratio within ~1% of a single stream.
 */
export const ZSTD_BLOCK = 4 << 20;

/*
 * @bokuweb/zstd-wasm runs the reference C zstd as WebAssembly (no native addon, works on Node 20).
 * WASM runs on the thread that calls it, so blocks go to a small pool of worker threads, each
 * with its own instance. The worker is evaluated from source text: that works the same from
 * TypeScript sources under vitest and from the built dist, with no extra file to ship.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zstd = require(workerData.lib);
const ready = zstd.init();
parentPort.on('message', (msg) => {
  ready.then(() => {
    const out = zstd.compress(msg.data, msg.level);
    parentPort.postMessage({ id: msg.id, out }, [out.buffer]);
  }).catch((e) => parentPort.postMessage({ id: msg.id, error: String((e && e.message) || e) }));
});
`;

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

class ZstdPool {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(private readonly size: number) {}

  private spawn(): { worker: Worker; busy: number } {
    const lib = createRequire(import.meta.url).resolve('@bokuweb/zstd-wasm');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { lib } });
    const slot = { worker, busy: 0 };
    worker.unref(); // an idle pool must not keep the process alive
    worker.on('message', (msg: { id: number; out?: Uint8Array; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (--slot.busy === 0) worker.unref();
      if (msg.out) p.resolve(Buffer.from(msg.out.buffer, msg.out.byteOffset, msg.out.byteLength));
      else
        p.reject(new PdError(`zstd compression failed: ${msg.error ?? 'unknown error'}`, { code: 'ZSTD' }));
    });
    worker.on('error', (e) => this.fail(slot, e));
    worker.on('exit', () => this.fail(slot, new Error('zstd worker exited')));
    this.workers.push(slot);
    return slot;
  }

  private fail(slot: { worker: Worker }, e: Error): void {
    const i = this.workers.findIndex((w) => w.worker === slot.worker);
    if (i >= 0) this.workers.splice(i, 1);
    // Jobs are not tracked per worker; a dead worker fails everything outstanding, which is
    // what the single caller (one layer's pipeline) wants anyway.
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  compress(data: Buffer, level: number): Promise<Buffer> {
    let slot = this.workers.reduce<{ worker: Worker; busy: number } | undefined>(
      (best, w) => (best === undefined || w.busy < best.busy ? w : best),
      undefined,
    );
    if (slot === undefined || (slot.busy > 0 && this.workers.length < this.size)) slot = this.spawn();
    const id = this.nextId++;
    if (slot.busy++ === 0) slot.worker.ref();
    const chosen = slot;
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // data is a fresh, unpooled buffer owned by this job: transfer instead of copying.
      const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      chosen.worker.postMessage({ id, data: view, level }, [data.buffer as ArrayBuffer]);
    });
  }
}

let pool: ZstdPool | undefined;

function sharedPool(): ZstdPool {
  pool ??= new ZstdPool(Math.max(1, Math.min(availableParallelism(), 4)));
  return pool;
}

/** A zstd stream of independent frames, compressed in parallel; byte-identical whatever the core count. */
export async function* zstdParallel(
  source: AsyncIterable<Buffer>,
  options: { level?: number; blockSize?: number; inFlight?: number } = {},
): AsyncGenerator<Buffer> {
  const level = options.level ?? 3;
  const p = sharedPool();
  let frames = 0;
  yield* compressBlocks(source, options.blockSize ?? ZSTD_BLOCK, options.inFlight ?? 4, ({ data, last }) => {
    // An empty final block adds nothing, except that an empty input still needs one frame.
    if (last && data.length === 0 && frames > 0) return Promise.resolve(Buffer.alloc(0));
    frames++;
    return p.compress(data, level);
  });
}
