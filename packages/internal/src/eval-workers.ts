import type { Worker } from 'node:worker_threads';

/*
 * Worker threads evaluated from source text: the same from TypeScript sources under vitest, from
 * a package's bundled dist and from a consumer's bundle, with no worker file to ship or locate.
 * @pd/tar compresses on them, @pd/registry hashes large downloads on them. The worker is
 * CommonJS; it answers a message that carries an `id` with `{ id, ... }` (or `{ id, error }`),
 * and may take messages without one that need no answer.
 */

/** One worker of an {@link EvalWorkers} set. */
export interface WorkerSlot {
  readonly worker: Worker;
  /** Calls in flight plus holds: the worker is referenced (keeps the process alive) while > 0. */
  load: number;
  /** The worker failed or exited: calls on it reject at once. */
  dead: boolean;
}

interface Pending {
  slot: WorkerSlot;
  resolve: (reply: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

export interface EvalWorkersOptions {
  /** At most this many workers. */
  size: number;
  /** The error a call gets when its worker answers `{ error }` or exits. */
  failure: (message: string) => Error;
}

/**
 * Up to `size` workers running `source`, started when needed: a job goes to the least loaded
 * one, a new one is started while every one is busy and there are fewer than `size`. An idle
 * set does not keep the process alive. When a worker fails or exits, the calls it owed reject
 * and the next job starts another.
 */
export class EvalWorkers {
  private readonly slots: WorkerSlot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(
    private readonly source: string,
    private readonly options: EvalWorkersOptions,
  ) {}

  /** How many workers are running now. */
  get running(): number {
    return this.slots.length;
  }

  /** The least loaded worker, or a new one while all are loaded and there is room. */
  pick(): WorkerSlot {
    let best: WorkerSlot | undefined;
    for (const s of this.slots) if (best === undefined || s.load < best.load) best = s;
    if (best === undefined || (best.load > 0 && this.slots.length < this.options.size)) return this.spawn();
    return best;
  }

  /** Count a hold on `slot` (a job that spans several calls): referenced until released. */
  hold(slot: WorkerSlot): void {
    if (slot.load++ === 0 && !slot.dead) slot.worker.ref();
  }

  /** End a hold (or a call). */
  release(slot: WorkerSlot): void {
    if (--slot.load === 0 && !slot.dead) slot.worker.unref();
  }

  /** Post `message` with a fresh `id`; resolves with the worker's answer to it. */
  call(
    slot: WorkerSlot,
    message: Record<string, unknown>,
    transfer: readonly ArrayBuffer[] = [],
  ): Promise<Record<string, unknown>> {
    if (slot.dead) return Promise.reject(this.options.failure('worker exited'));
    const id = this.nextId++;
    this.hold(slot);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { slot, resolve, reject });
      slot.worker.postMessage({ ...message, id }, transfer as ArrayBuffer[]);
    });
  }

  /** Post `message`, which needs no answer (dropped when the worker is gone). */
  post(slot: WorkerSlot, message: Record<string, unknown>, transfer: readonly ArrayBuffer[] = []): void {
    if (!slot.dead) slot.worker.postMessage(message, transfer as ArrayBuffer[]);
  }

  private spawn(): WorkerSlot {
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    // execArgv: [] keeps the parent's flags (e.g. --input-type=module) from breaking the CommonJS worker.
    const worker = new Worker(this.source, { eval: true, execArgv: [] });
    const slot: WorkerSlot = { worker, load: 0, dead: false };
    worker.unref();
    worker.on('message', (m: { id?: number; error?: string }) => {
      const p = m.id === undefined ? undefined : this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id!);
      this.release(slot);
      if (m.error === undefined) p.resolve(m as Record<string, unknown>);
      else p.reject(this.options.failure(m.error));
    });
    const fail = (e: Error) => {
      if (slot.dead) return;
      slot.dead = true;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      for (const [id, p] of this.pending) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        p.reject(e);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(this.options.failure(`worker exited (code ${code})`)));
    this.slots.push(slot);
    return slot;
  }
}
