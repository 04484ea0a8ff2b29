import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { OwnerRecord } from './containers.js';
import { NoLogError } from './errors.js';
import { type ContainerOptions, currentState, locate, readJson, sleep } from './lifecycle.js';
import { OWNER_FILE } from './owner.js';
import { LOG_FILE } from './supervisor.js';

// `docker logs` of a detached container: the supervisor's json-file log (supervisor.ts), split
// into stdout and stderr again, followed until the container has exited.

/** Options of {@link containerLogs}. */
export interface LogsOptions extends ContainerOptions {
  /** Keep reading until the container has exited (`-f`). */
  follow?: boolean;
  /** Prefix each line with its time (RFC 3339 with nanoseconds' digits as docker prints them). */
  timestamps?: boolean;
  /** Where the container's stdout lines go (default this process's stdout). Not ended. */
  stdout?: Writable;
  /** Where the container's stderr lines go (default this process's stderr). Not ended. */
  stderr?: Writable;
  /** Stop following. */
  signal?: AbortSignal;
}

interface LogRecord {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

/**
 * Write a detached container's output, stdout lines to `stdout` and stderr lines to `stderr`,
 * like `docker logs`; with `follow`, go on until the container has exited. A container run in
 * the foreground has no log (NoLogError): its output went to its `pd run`'s stdout.
 */
export async function containerLogs(ref: string, options: LogsOptions = {}): Promise<void> {
  const b = await locate(ref, options.cacheDir);
  const file = join(b.dir, LOG_FILE);
  const out = options.stdout ?? process.stdout;
  const err = options.stderr ?? process.stderr;
  let offset = 0;
  let rest = '';
  const drain = async (): Promise<void> => {
    const size = (await stat(file).catch(() => undefined))?.size ?? 0;
    if (size <= offset) return;
    const stream = createReadStream(file, { start: offset, end: size - 1 });
    offset = size;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        if (!line) continue;
        const r = JSON.parse(line) as LogRecord;
        const to = r.stream === 'stderr' ? err : out;
        const text = options.timestamps ? `${r.time} ${r.log}` : r.log;
        if (!to.write(text)) await new Promise((res) => to.once('drain', res));
      }
    }
  };
  const hasLog = await stat(file).then(
    () => true,
    () => false,
  );
  if (!hasLog) {
    const owner = await readJson<OwnerRecord>(join(b.dir, OWNER_FILE));
    // A detached one whose supervisor has not opened the log yet has simply written nothing.
    if (!owner?.detached && b.state === 'exited') throw new NoLogError(b.id);
    if (!owner?.detached && !options.follow) throw new NoLogError(b.id);
  }
  await drain();
  if (!options.follow) return;
  for (;;) {
    const state = await currentState(b);
    await drain();
    // Read once more after the end: the supervisor writes the last lines before the exit file.
    if (state === 'exited') {
      await drain();
      return;
    }
    if (options.signal?.aborted) return;
    await sleep(100);
  }
}
