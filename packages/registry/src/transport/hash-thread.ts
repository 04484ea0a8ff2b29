import { EvalWorkers } from '@pd/internal';
import type { DigestAlgorithm } from '@pd/oci-types';

/*
 * sha256 of a large blob, computed on a worker thread while the main thread keeps reading the
 * socket. On the main thread the two serialise: 1 GB costs about 0.5 s of hashing there, and
 * while it runs nothing is read, so a pull of two 540 MB blobs took 1.6 s in-process against
 * 1.2 s with one hashing thread per blob (raw sockets writing to files either way; pd's pull of
 * them: 1.65-2.05 s against 1.44-1.85 s, bench/results/2026-12-06-hash.md). The thread reads
 * the download's write buffers where they lie (SharedArrayBuffers, handed over once), so a chunk
 * costs a message, not a copy; a buffer goes back to the download once it is both written and
 * hashed. The threads are evaluated from source text (@pd/internal's EvalWorkers), as @pd/tar's
 * compression workers are.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const streams = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    streams.set(m.hash, { hash: createHash(m.algorithm), buffers: m.buffers.map((b) => Buffer.from(b)) });
  } else if (m.op === 'update') {
    const s = streams.get(m.hash);
    s.hash.update(s.buffers[m.index].subarray(0, m.length));
    parentPort.postMessage({ id: m.id });
  } else if (m.op === 'digest') {
    const s = streams.get(m.hash);
    streams.delete(m.hash);
    parentPort.postMessage({ id: m.id, digest: s.hash.digest('hex') });
  } else {
    streams.delete(m.hash);
  }
});
`;

/** One blob's hash on a thread, over buffers shared with it. */
export interface ThreadHash {
  /** The shared buffers, by index. */
  readonly buffers: Buffer[];
  /** Hash `buffers[index][0, length)`; settles once the thread is done reading it. */
  update(index: number, length: number): Promise<void>;
  /** `algorithm:hex` of everything given to update; the hash is closed after it. */
  digest(): Promise<string>;
  /** Forget the hash (a download that failed): later calls reject, those in flight still settle. */
  close(): void;
}

let threads: EvalWorkers | undefined;
let nextHash = 0;

/**
 * A hash of `algorithm` on a worker thread, over `count` shared buffers of `size` bytes. A hash
 * stays on its thread (its state lives there): it goes to the one with the fewest hashes open,
 * a new one while there are fewer than the cores but one (at most 4).
 */
export function threadHash(algorithm: DigestAlgorithm, count: number, size: number): ThreadHash {
  threads ??= new EvalWorkers(WORKER_SOURCE, {
    // One core is left to the main thread, which receives and writes. A thread hashes sha256
    // faster than a connection delivers (1.6 GB/s against 1.1 GB/s on loopback here), so on two
    // cores one thread takes every large blob: a second one's start (about 85 ms of CPU) cost
    // more than it gave back (pd's pull of two 540 MB blobs, three sets of 8-12 alternating
    // runs: one thread faster by 46-117 ms median).
    size: Math.max(1, Math.min(4, process.getBuiltinModule('node:os').availableParallelism() - 1)),
    failure: (message) => new Error(`hashing thread: ${message}`),
  });
  const pool = threads;
  const slot = pool.pick();
  const hash = nextHash++;
  const shared = Array.from({ length: count }, () => new SharedArrayBuffer(size));
  // Held while open, so a pending digest keeps the process alive and the next hash goes elsewhere.
  pool.hold(slot);
  pool.post(slot, { op: 'open', hash, algorithm, buffers: shared });
  let open = true;
  const closed = () => Promise.reject(new Error('hash closed'));
  const close = () => {
    if (!open) return;
    open = false;
    pool.release(slot);
  };
  return {
    buffers: shared.map((b) => Buffer.from(b)),
    async update(index, length) {
      if (!open) return closed();
      await pool.call(slot, { op: 'update', hash, index, length });
    },
    async digest() {
      if (!open) return closed();
      const { digest } = (await pool.call(slot, { op: 'digest', hash })) as { digest: string };
      close();
      return `${algorithm}:${digest}`;
    },
    close() {
      if (open) pool.post(slot, { op: 'drop', hash });
      close();
    },
  };
}
