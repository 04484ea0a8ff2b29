import { availableParallelism } from 'node:os';
import { EvalWorkers, type WorkerSlot } from '@pd/internal';
import { PdError } from '@pd/oci-types';

/*
 * Compression runs on worker threads. Node's async zlib calls do go to the libuv threadpool, but
 * measured here they barely scale (17 → 29 MB/s on two cores, and not at all with 1 MiB blocks,
 * while the same blocks through deflateRawSync on two workers go 23 → 44 MB/s); the threadpool
 * is also shared with every fs call the tar writer makes. zstd is WebAssembly
 * (@bokuweb/zstd-wasm: the reference C library, no native addon), which runs on the thread that
 * calls it. The workers are evaluated from source text (@pd/internal's EvalWorkers). A worker
 * gets the zstd library (as CommonJS text, see zstd-library.ts) with its first zstd job, so gzip
 * never loads it.
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
// A block deflate cannot shrink (bytes of compressed files: images, archives, model weights)
// costs it as much CPU as text does (random data at -6: 18 ms a MiB) and comes out a little
// larger than it went in: such a block is stored (level 0, under 1 ms a MiB). Whether it is, is
// read from three samples of it, so the same bytes always give the same output: each must have
// nearly every byte value (text and code have far fewer) and not shrink at -1 with the 32 KiB
// before it as dictionary (deflate finds no match farther back, so a repeat it could use shows).
const SAMPLE = 4096;
const WINDOW = 32768;
function distinctBytes(bytes) {
  const seen = new Uint8Array(256);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) if (seen[bytes[i]] === 0) { seen[bytes[i]] = 1; n++; }
  return n;
}
function incompressible(data, dictionary) {
  if (data.length < 4 * SAMPLE) return false;
  for (const at of [0, (data.length >> 1) - SAMPLE / 2, data.length - SAMPLE]) {
    const sample = data.subarray(at, at + SAMPLE);
    if (distinctBytes(sample) < 224) return false;
    const before = at === 0 ? dictionary : data.subarray(Math.max(0, at - WINDOW), at);
    const options = before && before.length > 0 ? { level: 1, dictionary: before } : { level: 1 };
    if (zlib.deflateRawSync(sample, options).length < SAMPLE) return false;
  }
  return true;
}
parentPort.on('message', (m) => {
  let done;
  if (m.op === 'deflate') {
    done = Promise.resolve(zlib.deflateRawSync(m.data, {
      level: m.level > 0 && incompressible(m.data, m.dictionary) ? 0 : m.level,
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

export class CompressionPool {
  readonly size: number;
  private readonly workers: EvalWorkers;
  /** Workers that were sent the zstd library (with their first zstd job). */
  private readonly hasZstd = new WeakSet<WorkerSlot>();
  private zstdSource: string | undefined;
  private zstdLoading: Promise<void> | undefined;

  constructor(size: number) {
    this.size = size;
    this.workers = new EvalWorkers(WORKER_SOURCE, {
      size,
      failure: (message) => new PdError(`compression failed: ${message}`, { code: 'COMPRESSION' }),
    });
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
  async run(job: PoolJob): Promise<Buffer> {
    if (job.op === 'zstd' && this.zstdSource === undefined) await this.loadZstd();
    const slot = this.workers.pick();
    const transfer: ArrayBuffer[] = [job.data.buffer as ArrayBuffer];
    if (job.op === 'deflate' && job.dictionary) transfer.push(job.dictionary.buffer as ArrayBuffer);
    let zstdLibrary: string | undefined;
    if (job.op === 'zstd' && !this.hasZstd.has(slot)) {
      this.hasZstd.add(slot);
      zstdLibrary = this.zstdSource;
    }
    const { out } = (await this.workers.call(slot, { ...job, zstdLibrary }, transfer)) as { out: Uint8Array };
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }
}

let shared: CompressionPool | undefined;

/** One pool per process, one worker per core (at most 4), started on first use. */
export function compressionPool(): CompressionPool {
  shared ??= new CompressionPool(Math.max(1, Math.min(availableParallelism(), 4)));
  return shared;
}
