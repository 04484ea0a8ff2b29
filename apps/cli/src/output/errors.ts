import { basename, dirname, join } from 'node:path';
import { PdError } from '@pd/oci-types/errors';

/** Wrong command line: printed with the usage line, exit code 2. */
export class UsageError extends PdError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'USAGE', ...(hint ? { hint } : {}) });
  }
}

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** 128 + SIGINT, as shells report an interrupted command. */
export const EXIT_INTERRUPTED = 130;

const SYSTEM_ERRORS: Record<string, [string, string]> = {
  ENOENT: ['no such file or directory', 'check the path'],
  EACCES: ['permission denied', 'check the permissions, or run as a user who may access it'],
  EPERM: ['operation not permitted', 'this needs privileges the current user lacks'],
  EISDIR: ['is a directory', 'give a file path'],
  ENOTDIR: ['not a directory', 'a parent of the path is a file'],
  EEXIST: ['already exists', 'remove it first or choose another path'],
  ENOSPC: ['no space left on device', 'free some space, or point PD_CACHE_DIR / the output elsewhere'],
  EROFS: ['read-only file system', 'write somewhere else'],
  EMFILE: ['too many open files', 'raise the open-files limit (ulimit -n)'],
  ENOTEMPTY: ['directory not empty', 'choose an empty or new directory'],
};

interface SystemError extends Error {
  code: string;
  syscall?: string;
  path?: string;
}

function isSystemError(e: unknown): e is SystemError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && 'syscall' in e;
}

/**
 * The output a temporary file stands for: writers put `.NAME.<pid>.<random>.pd-tmp` (or `.tmp`)
 * beside NAME and rename it into place, but the user only knows NAME.
 */
const TEMP_NAME = /^\.(.+?)(?:\.\d+)?\.[0-9a-z]+\.(?:pd-tmp|tmp)$/;

export function outputOfTemp(path: string): string | undefined {
  const m = TEMP_NAME.exec(basename(path));
  return m ? join(dirname(path), m[1]!) : undefined;
}

const WRITE_PROBLEMS: Record<string, [string, string]> = {
  ENOENT: ['its directory does not exist', 'create the directory first, or choose another path'],
  ENOTDIR: ['a parent of the path is not a directory', 'choose another path'],
  EACCES: ['permission denied', 'choose a directory you may write to'],
};

/** A failed write of an output, told by the output's name (not its temporary file's). */
function describeOutputError(e: SystemError, output: string): [string, string | undefined] {
  // ENOENT in a directory that exists (/proc, /sys): no file can be created there.
  if (e.code === 'ENOENT' && process.getBuiltinModule('node:fs').existsSync(dirname(output))) {
    return [`cannot write ${output}: no file can be created in that directory`, 'choose another directory'];
  }
  const known = WRITE_PROBLEMS[e.code] ?? SYSTEM_ERRORS[e.code];
  return [`cannot write ${output}: ${known?.[0] ?? e.code}`, known?.[1]];
}

export function isAbort(e: unknown): boolean {
  return (
    typeof e === 'object' &&
    e !== null &&
    ((e as { name?: unknown }).name === 'AbortError' || (e as { code?: unknown }).code === 'ABORT_ERR')
  );
}

/** Secrets seen on this command line (passwords): never printed, whatever carries them. */
const secrets = new Set<string>();

export function registerSecret(value: string): void {
  if (value.length >= 3) secrets.add(value);
}

/** Remove known secrets and anything shaped like credentials from text bound for a terminal or log. */
export function redact(text: string): string {
  let out = text
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 ***')
    .replace(/(\/\/[^/\s:@]+):[^/\s@]+@/g, '$1:***@')
    .replace(/([?&](?:access_token|token|password|refresh_token)=)[^&\s]+/gi, '$1***');
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

export interface DescribedError {
  /** `pd: <what> (<why>)`, one line, no trailing newline. */
  line: string;
  exitCode: number;
}

/** The one line a user sees for an error, and the exit code it means. */
export function describeError(e: unknown): DescribedError {
  if (isAbort(e)) return { line: 'pd: interrupted', exitCode: EXIT_INTERRUPTED };
  let what: string;
  let why: string | undefined;
  let exitCode = EXIT_FAILURE;
  if (e instanceof PdError) {
    what = e.message;
    why = e.hint;
    if (e instanceof UsageError) exitCode = EXIT_USAGE;
    // Errors that mean a documented code carry it (the runner's start failures: 125, 126, 127, as docker).
    const own = (e as { exitCode?: unknown }).exitCode;
    if (typeof own === 'number' && Number.isInteger(own) && own > 0 && own <= 127) exitCode = own;
  } else if (isSystemError(e) && e.path !== undefined && outputOfTemp(e.path) !== undefined) {
    [what, why] = describeOutputError(e, outputOfTemp(e.path)!);
  } else if (isSystemError(e)) {
    const known = SYSTEM_ERRORS[e.code];
    const target = e.path ? ` ${e.path}` : '';
    const action = e.syscall ? `${e.syscall}${target}` : target.trim() || 'operation';
    what = `cannot ${action}: ${known?.[0] ?? e.code}`;
    why = known?.[1];
  } else if (e instanceof Error) {
    what = e.message || e.name;
    why = 'unexpected error; rerun with --verbose for details, and report it if it persists';
  } else {
    what = String(e);
  }
  const line = `pd: ${oneLine(what)}${why ? ` (${oneLine(why)})` : ''}`;
  return { line: redact(line), exitCode };
}

/** Stack and cause chain, for --verbose and PD_DEBUG=1. */
export function errorDetails(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    if (cur instanceof Error) {
      parts.push(depth === 0 ? (cur.stack ?? String(cur)) : `caused by: ${cur.stack ?? String(cur)}`);
      cur = (cur as { cause?: unknown }).cause;
    } else {
      parts.push(`caused by: ${String(cur)}`);
      break;
    }
  }
  return redact(parts.join('\n'));
}
