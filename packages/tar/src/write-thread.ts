import { EvalWorkers, type WorkerSlot } from '@pd/internal';

/*
 * Small files of a layer written on a second thread while the extractor parses and writes on its
 * own. A distribution's layer is mostly files of a few KiB: each costs an open, a write, a
 * futimes and a close, the kernel's time more than pd's, and GNU tar makes them one after the
 * other on one core. On two threads the kernel's part runs on two cores (20 000 files into tmpfs:
 * 236-279 ms on one thread, 136-153 on two). The thread writes a file's bytes from where the
 * parser found them (the lent read buffers of a file slice, shared memory), so a file costs a
 * few numbers in a message, not a copy.
 *
 * The extractor decides everything (path, modes, owner, time); the thread only runs the calls.
 * It replaces a file or symlink in the way, never follows one (O_NOFOLLOW), and leaves anything
 * else (a directory in the way, a failed call) to the extractor: such a write is reported failed
 * and the extractor makes it again on its own thread, where the error, if any, is raised.
 */
/** Numbers per write in a batch: buffer, offset, length, mode made, uid, gid, chmod, has mtime, mtime. */
const FIELDS = 9;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
const FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
const channels = new Map();
function create(path, mode) {
  try {
    return fs.openSync(path, FLAGS, mode);
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
    const st = fs.lstatSync(path, { throwIfNoEntry: false });
    if (st && st.isDirectory()) throw e;
    if (st) fs.unlinkSync(path);
    return fs.openSync(path, FLAGS, mode);
  }
}
function write(path, data, start, length, v, k) {
  const fd = create(path, v[k + 3]);
  try {
    for (let at = 0; at < length; ) at += fs.writeSync(fd, data, start + at, length - at, at);
    if (v[k + 4] >= 0) fs.fchownSync(fd, v[k + 4], v[k + 5]);
    if (v[k + 6] >= 0) fs.fchmodSync(fd, v[k + 6]);
    if (v[k + 7] === 1) fs.futimesSync(fd, v[k + 8], v[k + 8]);
  } finally {
    fs.closeSync(fd);
  }
}
// A thread that ends says so where a waiting main thread sees it (its events wait for it).
process.on('exit', () => {
  for (const c of channels.values()) {
    Atomics.store(c.done, 1, 1);
    Atomics.notify(c.done, 0);
  }
});
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    channels.set(m.channel, { done: new Int32Array(m.done), failed: new Uint8Array(m.failed) });
    return;
  }
  if (m.op === 'close') {
    channels.delete(m.channel);
    return;
  }
  const c = channels.get(m.channel);
  const buffers = m.buffers.map((b) => Buffer.from(b));
  const v = m.numbers;
  for (let i = 0; i < m.paths.length; i++) {
    const k = i * ${FIELDS};
    const slot = (m.seq + i) % c.failed.length;
    try {
      write(m.paths[i], buffers[v[k]], v[k + 1], v[k + 2], v, k);
      c.failed[slot] = 0;
    } catch {
      c.failed[slot] = 1;
    }
    Atomics.add(c.done, 0, 1);
  }
  Atomics.notify(c.done, 0);
  parentPort.postMessage({ id: m.id });
});
`;

/**
 * Writes out at once, at most: past that the extractor writes the next file itself. The layer
 * case's tree into tmpfs (11 alternating): 908-954 ms with 32, 859-875 with 128, 863 with 512.
 */
const BACKLOG = 128;
/** A batch goes out at this many writes, or at once while the thread has nothing to do. */
const BATCH = 8;
/** Status slots of writes out (a ring): at least the writes that can be out unretired. */
const RING = 1 << 16;

/** One file for the thread to write, all decided by the extractor. */
export interface FileWrite {
  /** The path relative to the extraction's root (what the extractor tracks). */
  readonly rel: string;
  /** The absolute path opened (O_EXCL|O_NOFOLLOW). */
  readonly path: string;
  /** The file's bytes; given to the thread only in shared memory. */
  data: Buffer;
  /** Mode the file is created with. */
  readonly created: number;
  /** Owner to set with fchown, or -1 for none. */
  readonly uid: number;
  readonly gid: number;
  /** Mode to set with fchmod after the owner, or -1 for none. */
  readonly chmod: number;
  /** Access and modification time (seconds), or undefined to leave them. */
  readonly mtime: number | undefined;
}

interface Batch {
  seq: number;
  writes: FileWrite[];
  buffers: SharedArrayBuffer[];
  retired: boolean;
  release: () => void;
  /** Settles once the batch is retired: the lent memory its writes read is free again. */
  released: Promise<void>;
}

let threads: EvalWorkers | undefined;
let nextChannel = 0;
/** Files the thread wrote, for tests: that a layer's files really went there. */
export const threadWrites = { count: 0 };

/**
 * The second thread's share of one layer's small files: the extractor offers each one, the thread
 * takes it while it is not too far behind, and the extractor waits for it ({@link settle}) before
 * it touches a path the thread may still be writing, or removes anything.
 */
export class WriteThread {
  private slot: WorkerSlot | undefined;
  /** Writes the thread has done (failed ones too), and 1 at [1] once it has ended. */
  private readonly done = new Int32Array(new SharedArrayBuffer(8));
  private readonly failedAt = new Uint8Array(new SharedArrayBuffer(RING));
  private readonly channel = nextChannel++;
  /** Writes given to the thread so far (posted), and the batch being gathered. */
  private posted = 0;
  private batch: Batch | undefined;
  private readonly out: Batch[] = [];
  /** Paths of writes out or failed, not yet retired. */
  private readonly paths = new Map<string, number>();
  private readonly failed: FileWrite[] = [];

  /** A channel to the write thread; undefined on a machine of one core, where it would only cost. */
  static open(): WriteThread | undefined {
    return process.getBuiltinModule('node:os').availableParallelism() > 1 ? new WriteThread() : undefined;
  }

  private start(): WorkerSlot {
    if (this.slot === undefined) {
      threads ??= new EvalWorkers(WORKER_SOURCE, {
        size: 1,
        failure: (message) => new Error(`file write thread: ${message}`),
      });
      this.slot = threads.pick();
      threads.hold(this.slot);
      threads.post(this.slot, {
        op: 'open',
        channel: this.channel,
        done: this.done.buffer,
        failed: this.failedAt.buffer,
      });
    }
    return this.slot;
  }

  /** Whether a write of `rel` may still be out (or failed, to be made again). */
  has(rel: string): boolean {
    return this.paths.has(rel);
  }

  /** Whether anything is out. */
  get busy(): boolean {
    return this.paths.size > 0;
  }

  /**
   * Give `w` to the thread: false when it is too far behind, or the bytes are not in shared
   * memory (then the caller writes it). The bytes must stay as they are until the write is
   * retired: lent memory is kept until then (keep, see keepLentChunk).
   */
  offer(w: FileWrite, keep: (memory: Uint8Array, until: Promise<void>) => void): boolean {
    const memory = w.data.buffer;
    if (!(memory instanceof SharedArrayBuffer) || this.ended) return false;
    // Every status slot of the ring is one a write out may still need.
    if (this.out.length > 0 && this.posted - this.out[0]!.seq >= RING - BATCH) return false;
    const queued = this.batch?.writes.length ?? 0;
    if (this.posted + queued - Atomics.load(this.done, 0) >= BACKLOG) return false;
    this.start();
    let b = this.batch;
    if (b === undefined) {
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      b = { seq: this.posted, writes: [], buffers: [], retired: false, release, released };
      this.batch = b;
    }
    if (!b.buffers.includes(memory)) {
      b.buffers.push(memory);
      keep(w.data, b.released);
    }
    b.writes.push(w);
    this.paths.set(w.rel, (this.paths.get(w.rel) ?? 0) + 1);
    if (b.writes.length >= BATCH || Atomics.load(this.done, 0) === this.posted) this.flush();
    return true;
  }

  /** Post the batch being gathered. */
  flush(): void {
    const b = this.batch;
    if (b === undefined || this.slot === undefined) return;
    this.batch = undefined;
    const numbers = new Float64Array(b.writes.length * FIELDS);
    const paths: string[] = [];
    b.writes.forEach((w, i) => {
      const k = i * FIELDS;
      numbers[k] = b.buffers.indexOf(w.data.buffer as SharedArrayBuffer);
      numbers[k + 1] = w.data.byteOffset;
      numbers[k + 2] = w.data.length;
      numbers[k + 3] = w.created;
      numbers[k + 4] = w.uid;
      numbers[k + 5] = w.gid;
      numbers[k + 6] = w.chmod;
      numbers[k + 7] = w.mtime === undefined ? 0 : 1;
      numbers[k + 8] = w.mtime ?? 0;
      paths.push(w.path);
    });
    this.posted += b.writes.length;
    this.out.push(b);
    // Retired when the thread answers, unless a settle() did it first.
    threads!.call(this.slot, { channel: this.channel, seq: b.seq, paths, numbers, buffers: b.buffers }).then(
      () => this.retire(b),
      () => undefined, // the thread died: settle() finds the writes not done
    );
  }

  /**
   * Wait (blocking: the thread's calls are short) until every write given is done, and return
   * the ones that failed for the caller to make itself; until it has, their paths stay out.
   */
  settle(): FileWrite[] {
    this.drain();
    const failed = this.failed.splice(0);
    for (const w of failed) this.forget(w.rel);
    return failed;
  }

  /** Wait for what is out and let the thread go (after a failure too: nothing is written later). */
  close(): void {
    this.drain();
    if (this.slot === undefined) return;
    threads!.post(this.slot, { op: 'close', channel: this.channel });
    threads!.release(this.slot);
    this.slot = undefined;
  }

  /** Post what is gathered, wait until the thread has done it all, and retire every batch. */
  private drain(): void {
    this.flush();
    this.wait();
    for (const b of [...this.out]) this.retire(b);
  }

  /** The thread has ended (failed or exited): what it did not do counts as failed. */
  private get ended(): boolean {
    return this.slot?.dead === true || Atomics.load(this.done, 1) === 1;
  }

  /** Block until the thread has done every write posted, or died (its writes then count as failed). */
  private wait(): void {
    for (;;) {
      const done = Atomics.load(this.done, 0);
      if (done >= this.posted || this.slot === undefined) return;
      if (this.ended) {
        for (let s = done; s < this.posted; s++) this.failedAt[s % RING] = 1;
        Atomics.store(this.done, 0, this.posted);
        return;
      }
      Atomics.wait(this.done, 0, done, 100);
    }
  }

  /** Account for a batch the thread is done with: failed writes kept (copied) to be made again. */
  private retire(b: Batch): void {
    if (b.retired) return;
    b.retired = true;
    this.out.splice(this.out.indexOf(b), 1);
    b.writes.forEach((w, i) => {
      if (this.failedAt[(b.seq + i) % RING] === 1) {
        w.data = Buffer.from(w.data);
        this.failed.push(w);
      } else {
        threadWrites.count++;
        this.forget(w.rel);
      }
    });
    b.release();
  }

  private forget(rel: string): void {
    const n = this.paths.get(rel) ?? 0;
    if (n <= 1) this.paths.delete(rel);
    else this.paths.set(rel, n - 1);
  }
}
