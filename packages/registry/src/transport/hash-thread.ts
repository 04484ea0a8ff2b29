import type { Worker } from 'node:worker_threads';
import type { DigestAlgorithm } from '@pd/oci-types';

/*
 * sha256 of a large blob, computed on a worker thread while the main thread keeps reading the
 * socket. On the main thread the two serialise: 1 GB costs about 0.5 s of hashing there, and
 * while it runs nothing is read, so a pull of two 540 MB blobs took 1.6 s in-process against
 * 1.2 s with one hashing thread per blob (raw sockets writing to files either way; pd's pull of
 * them: 1.65-2.05 s against 1.44-1.85 s, bench/results/2026-12-06-hash.md). The thread reads
 * the download's write buffers where they lie (SharedArrayBuffers, handed over once), so a chunk
 * costs a message, not a copy; a buffer goes back to the download once it is both written and
 * hashed. The worker is evaluated from source text, like @pd/tar's compression pool, so no file
 * needs locating.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const streams = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    streams.set(m.id, { hash: createHash(m.algorithm), buffers: m.buffers.map((b) => Buffer.from(b)) });
  } else if (m.op === 'update') {
    const s = streams.get(m.id);
    s.hash.update(s.buffers[m.index].subarray(0, m.length));
    parentPort.postMessage({ id: m.id });
  } else if (m.op === 'digest') {
    const s = streams.get(m.id);
    streams.delete(m.id);
    parentPort.postMessage({ id: m.id, digest: s.hash.digest('hex') });
  } else {
    streams.delete(m.id);
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
  /** Forget the hash (a download that failed); calls still pending reject. */
  close(): void;
}

interface Waiter {
  resolve: (digest?: string) => void;
  reject: (e: Error) => void;
}

interface Thread {
  worker: Worker;
  /** Per open hash, its waiters in order: the worker answers each hash's messages in turn. */
  open: Map<number, Waiter[]>;
}

const threads: Thread[] = [];
let nextId = 0;

function maxThreads(): number {
  return Math.max(1, Math.min(4, process.getBuiltinModule('node:os').availableParallelism()));
}

function failAll(thread: Thread, e: Error): void {
  const i = threads.indexOf(thread);
  if (i >= 0) threads.splice(i, 1);
  for (const waiters of thread.open.values()) for (const w of waiters.splice(0)) w.reject(e);
  thread.open.clear();
}

function startThread(): Thread {
  const { Worker } = process.getBuiltinModule('node:worker_threads');
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  const thread: Thread = { worker, open: new Map() };
  worker.unref();
  worker.on('message', (m: { id: number; digest?: string }) =>
    thread.open.get(m.id)?.shift()?.resolve(m.digest),
  );
  worker.on('error', (e) => failAll(thread, e));
  worker.on('exit', (code) => failAll(thread, new Error(`hashing thread exited (code ${code})`)));
  threads.push(thread);
  return thread;
}

/** The thread with the fewest open hashes, a new one while there are fewer than the cores. */
function pickThread(): Thread {
  const idle = threads.find((t) => t.open.size === 0);
  if (idle) return idle;
  if (threads.length < maxThreads()) return startThread();
  return threads.reduce((a, b) => (b.open.size < a.open.size ? b : a));
}

/** A hash of `algorithm` on a worker thread, over `count` shared buffers of `size` bytes. */
export function threadHash(algorithm: DigestAlgorithm, count: number, size: number): ThreadHash {
  const thread = pickThread();
  const id = nextId++;
  const shared = Array.from({ length: count }, () => new SharedArrayBuffer(size));
  const waiters: Waiter[] = [];
  thread.open.set(id, waiters);
  // Referenced while a hash is open, so a pending digest keeps the process alive.
  if (thread.open.size === 1) thread.worker.ref();
  thread.worker.postMessage({ op: 'open', id, algorithm, buffers: shared });
  const wait = () =>
    new Promise<string | undefined>((resolve, reject) => {
      if (!thread.open.has(id)) reject(new Error('hash already closed'));
      else waiters.push({ resolve, reject });
    });
  const close = () => {
    if (!thread.open.delete(id)) return;
    if (thread.open.size === 0) thread.worker.unref();
    for (const w of waiters.splice(0)) w.reject(new Error('hash closed'));
  };
  return {
    buffers: shared.map((b) => Buffer.from(b)),
    async update(index, length) {
      const done = wait();
      thread.worker.postMessage({ op: 'update', id, index, length });
      await done;
    },
    async digest() {
      const done = wait();
      thread.worker.postMessage({ op: 'digest', id });
      const hex = await done;
      close();
      return `${algorithm}:${hex}`;
    },
    close() {
      if (thread.open.has(id)) thread.worker.postMessage({ op: 'drop', id });
      close();
    },
  };
}
