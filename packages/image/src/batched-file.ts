import { type FileHandle, open } from 'node:fs/promises';
import { addAbortSignal, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

// Socket reads arrive in chunks of up to 64 KiB. Writing each one is one thread-pool trip and one
// wake-up of the event loop per chunk, which on a busy machine costs more than the copy itself;
// gathering them to about 1 MiB cuts those trips twentyfold while holding at most that much.
const BATCH = 1 << 20;

/** Appends chunks to a file (open, or still opening), gathered into writes of about {@link BATCH} bytes. */
export class BatchedFileWriter {
  private chunks: Buffer[] = [];
  private pending = 0;

  constructor(private readonly file: FileHandle | Promise<FileHandle>) {}

  /** Queue a chunk; when that filled the batch, the batch's write (else undefined: no promise per chunk). */
  write(chunk: Buffer): Promise<void> | undefined {
    this.chunks.push(chunk);
    this.pending += chunk.length;
    return this.pending >= BATCH ? this.flush() : undefined;
  }

  /** Write what is queued. */
  async flush(): Promise<void> {
    if (this.chunks.length === 0) return;
    const chunks = this.chunks;
    this.chunks = [];
    this.pending = 0;
    await (await this.file).writev(chunks);
  }
}

/**
 * Copy a stream into a new file (`wx`: it must not exist) in batched writes and close it; returns
 * the bytes written. On failure the file may remain, for the caller to remove. Reads in flowing
 * mode, pausing while a batch is written: an async iterator would read() the stream's buffer,
 * which concatenates (copies) the chunks waiting in it.
 */
export async function writeStreamToFile(
  path: string,
  input: Readable,
  signal?: AbortSignal,
): Promise<number> {
  // Everything that watches the input is attached before the first await, so an input that
  // fails while the file opens is a rejection here, never an unhandled 'error'.
  if (signal) addAbortSignal(signal, input);
  const ended = finished(input);
  const opening = open(path, 'wx');
  opening.catch(() => undefined); // seen by the first write or the final flush, not unhandled meanwhile
  const out = new BatchedFileWriter(opening);
  let size = 0;
  input.on('data', (chunk: Buffer) => {
    size += chunk.length;
    const written = out.write(chunk);
    if (written === undefined) return;
    input.pause();
    written.then(
      () => input.resume(),
      (e: unknown) => input.destroy(e as Error),
    );
  });
  try {
    await ended;
    await out.flush();
  } catch (e) {
    input.destroy();
    throw e;
  } finally {
    await (await opening.catch(() => undefined))?.close();
  }
  return size;
}
