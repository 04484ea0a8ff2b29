import type { OutputStream } from '../context.js';

interface TtyInput extends NodeJS.ReadableStream {
  isTTY?: boolean | undefined;
  setRawMode?(mode: boolean): unknown;
}

/**
 * Ask for a line on the terminal. With `hidden`, typed characters are not echoed (passwords);
 * Ctrl-C rejects with an AbortError, Ctrl-D ends the input.
 */
export function prompt(
  input: TtyInput,
  output: OutputStream,
  question: string,
  hidden: boolean,
): Promise<string> {
  output.write(question);
  const raw = typeof input.setRawMode === 'function';
  if (raw) input.setRawMode?.(true);
  input.setEncoding('utf8');
  input.resume();
  return new Promise<string>((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      input.removeListener('data', onData);
      if (raw) input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string | Buffer) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') {
          const e = new Error('interrupted');
          e.name = 'AbortError';
          return done(e);
        }
        if (ch === '\u007f' || ch === '\b') {
          if (value.length > 0) {
            value = value.slice(0, -1);
            if (!hidden) output.write('\b \b');
          }
          continue;
        }
        value += ch;
        if (!hidden && raw) output.write(ch);
      }
    };
    input.on('data', onData);
  });
}
