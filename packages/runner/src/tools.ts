import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';

const found = new Map<string, string | undefined>();

/**
 * Absolute path of an executable on PATH (plus the sbin directories, where runc lives on some
 * distributions but which a non-login PATH may lack). Cached: PATH does not change under us.
 */
export function which(tool: string): string | undefined {
  if (isAbsolute(tool)) return isExecutable(tool) ? tool : undefined;
  if (found.has(tool)) return found.get(tool);
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  let hit: string | undefined;
  for (const dir of dirs) {
    if (dir && isExecutable(join(dir, tool))) {
      hit = join(dir, tool);
      break;
    }
  }
  found.set(tool, hit);
  return hit;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Quote a word for /bin/sh. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Options of {@link runTool}. */
export interface RunToolOptions {
  /** Piped to the tool's stdin (else stdin is closed). */
  input?: Readable | undefined;
  env?: NodeJS.ProcessEnv;
  /** Most stdout kept (default 1 MiB). */
  maxBuffer?: number;
  /** The error for a failed run, from its stderr and the exit error. */
  failure: (stderr: string, error: Error) => Error;
}

/**
 * Run `file` with `args` to its end; resolves to its stdout. A failing `input` kills the tool and
 * rejects with the input's error; the tool's own failure rejects with `failure(stderr, error)`.
 */
export function runTool(file: string, args: string[], options: RunToolOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        encoding: 'buffer',
        maxBuffer: options.maxBuffer ?? 1 << 20,
        ...(options.env ? { env: options.env } : {}),
      },
      (err, stdout, stderr) => (err ? reject(options.failure(stderr.toString(), err)) : resolve(stdout)),
    );
    const input = options.input;
    if (input) {
      input.on('error', (e) => {
        child.kill();
        reject(e);
      });
      child.stdin!.on('error', () => {}); // a tool exiting early says why through its exit
      input.pipe(child.stdin!);
    } else child.stdin!.end();
  });
}
