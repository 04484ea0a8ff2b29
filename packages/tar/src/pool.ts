import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { PdError } from '@pd/oci-types';

/*
 * Compression runs on worker threads. Node's async zlib calls do go to the libuv threadpool, but
 * measured here they barely scale (17 → 29 MB/s on two cores, and not at all with 1 MiB blocks,
 * while the same blocks through deflateRawSync on two workers go 23 → 44 MB/s); the threadpool
 * is also shared with every fs call the tar writer makes. zstd is WebAssembly
 * (@bokuweb/zstd-wasm: the reference C library, no native addon), which runs on the thread that
 * calls it. The worker is evaluated from source text, which works the same from TypeScript
 * sources under vitest, from the built dist and from a consumer's bundle, with no extra file to
 * ship or locate. A worker gets the zstd library (as CommonJS text, see zstd-library.ts) with its
 * first zstd job, so gzip never loads it.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const vm = require('node:vm');
const zlib = require('node:zlib');
let zstd;
function loadZstd(source) {
  const module = { exports: {} };
  const wrapper = '(function (module, exports, require) {' + source + '\\n})';
  vm.runInThisContext(wrapper, { filename: 'pd-zstd-library.cjs' })(module, module.exports, require);
  const lib = module.exports;
  return Promise.resolve(lib.init()).then(() => lib);
}
parentPort.on('message', (m) => {
  let done;
  if (m.op === 'deflate') {
    done = Promise.resolve(zlib.deflateRawSync(m.data, {
      level: m.level,
      dictionary: m.dictionary,
      finishFlush: m.last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      chunkSize: Math.max(65536, m.data.length + (m.data.length >> 8) + 1024),
    }));
  } else {
    if (m.zstdLibrary !== undefined) zstd = new Promise((resolve) => resolve(loadZstd(m.zstdLibrary)));
    done = zstd.then((lib) => lib.compress(m.data, m.level));
  }
  done.then(
    (out) => parentPort.postMessage({ id: m.id, out }, [out.buffer]),
    (e) => parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) }),
  );
});
`;

export type PoolJob =
  | { op: 'deflate'; data: Buffer; dictionary: Buffer | undefined; level: number; last: boolean }
  | { op: 'zstd'; data: Buffer; level: number };

interface Slot {
  worker: Worker;
  busy: number;
  /** The zstd library was sent to this worker (with its first zstd job). */
  zstd: boolean;
}

interface Pending {
  slot: Slot;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

export class CompressionPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private zstdSource: string | undefined;
  private zstdLoading: Promise<void> | undefined;

  constructor(size: number) {
    this.size = size;
  }

  private spawn(): Slot {
    // execArgv: [] keeps the parent's flags (e.g. --input-type=module) from breaking the eval'd CommonJS worker.
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    const slot: Slot = { worker, busy: 0, zstd: false };
    worker.unref(); // an idle pool must not keep the process alive
    worker.on('message', (msg: { id: number; out?: Uint8Array; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (--slot.busy === 0) worker.unref();
      if (msg.out) p.resolve(Buffer.from(msg.out.buffer, msg.out.byteOffset, msg.out.byteLength));
      else
        p.reject(new PdError(`compression failed: ${msg.error ?? 'unknown error'}`, { code: 'COMPRESSION' }));
    });
    const fail = (e: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      for (const [id, p] of this.pending) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        p.reject(e);
      }
    };
    worker.on('error', fail);
    worker.on('exit', () => fail(new PdError('compression worker exited', { code: 'COMPRESSION' })));
    this.slots.push(slot);
    return slot;
  }

  /**
   * Fetch the zstd library's text, once. It is a module of its own, imported on first use: in the
   * published build it holds the library with its WASM inlined (a few hundred KiB that a program
   * using gzip only never reads).
   */
  private loadZstd(): Promise<void> {
    this.zstdLoading ??= import('./zstd-library.js')
      .then((m) => {
        this.zstdSource = m.zstdLibrarySource();
      })
      .catch((e: unknown) => {
        this.zstdLoading = undefined; // a later layer may try again
        throw new PdError(`zstd is not available: ${(e as Error).message}`, {
          code: 'COMPRESSION',
          cause: e,
        });
      });
    return this.zstdLoading;
  }

  /** Run a job on the least busy worker. `data` (and `dictionary`) are transferred, not copied. */
  run(job: PoolJob): Promise<Buffer> {
    if (job.op === 'zstd' && this.zstdSource === undefined) return this.loadZstd().then(() => this.run(job));
    let slot: Slot | undefined;
    for (const s of this.slots) if (slot === undefined || s.busy < slot.busy) slot = s;
    if (slot === undefined || (slot.busy > 0 && this.slots.length < this.size)) slot = this.spawn();
    const chosen = slot;
    const id = this.nextId++;
    if (chosen.busy++ === 0) chosen.worker.ref();
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { slot: chosen, resolve, reject });
      const transfer: ArrayBuffer[] = [job.data.buffer as ArrayBuffer];
      if (job.op === 'deflate' && job.dictionary) transfer.push(job.dictionary.buffer as ArrayBuffer);
      let zstdLibrary: string | undefined;
      if (job.op === 'zstd' && !chosen.zstd) {
        chosen.zstd = true;
        zstdLibrary = this.zstdSource;
      }
      chosen.worker.postMessage({ id, ...job, zstdLibrary }, transfer);
    });
  }
}

let shared: CompressionPool | undefined;

/** One pool per process, one worker per core (at most 4), started on first use. */
export function compressionPool(): CompressionPool {
  shared ??= new CompressionPool(Math.max(1, Math.min(availableParallelism(), 4)));
  return shared;
}
