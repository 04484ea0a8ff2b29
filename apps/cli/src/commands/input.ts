import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { PdError } from '@pd/oci-types';
import type { Context } from '../context.js';

/**
 * Bytes of FILE (or stdin for `-`), reported to the progress renderer as they are read: the
 * bar shows how far through the input a command is, whatever it does with the bytes.
 */
export async function readInput(ctx: Context, file: string, phase: string): Promise<AsyncIterable<Buffer>> {
  const id = `input:${file}`;
  const label = file === '-' ? 'stdin' : basename(file);
  const info = file === '-' ? undefined : await stat(file);
  if (info?.isDirectory()) {
    throw new PdError(`${file} is a directory`, {
      code: 'NOT_A_FILE',
      hint: 'give a layer file (tar, tar.gz or tar.zst), or - for stdin',
    });
  }
  const total = info?.size;
  const source: AsyncIterable<Buffer | string> = file === '-' ? ctx.io.stdin : createReadStream(file);
  const progress = ctx.progress;
  return (async function* () {
    let done = 0;
    progress.update({ id, label, phase, done, total });
    for await (const chunk of source) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      done += b.length;
      progress.update({ id, label, phase, done, total });
      yield b;
    }
    progress.finishTask(id);
  })();
}
