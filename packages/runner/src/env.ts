import { readFile } from 'node:fs/promises';
import { InvalidOptionError } from './errors.js';

/** Docker's PATH for images that set none. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const keyOf = (entry: string) => {
  const i = entry.indexOf('=');
  return i < 0 ? entry : entry.slice(0, i);
};

/**
 * `-e` values as the docker CLI reads them: `K=V` as is; a bare `K` takes K's value from this
 * process when set, and otherwise stays bare (which then unsets K, see {@link containerEnv}).
 */
export function userEnvEntries(env: string[] | Record<string, string> | undefined): string[] {
  if (env === undefined) return [];
  if (!Array.isArray(env)) return Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return env.map((e) => {
    if (e.includes('=')) {
      if (keyOf(e) === '') throw new InvalidOptionError('-e', `"${e}" has no variable name`);
      return e;
    }
    const v = process.env[e];
    return v === undefined ? e : `${e}=${v}`;
  });
}

/** Parse an `--env-file` like the docker CLI: `K=V` kept verbatim (no quote handling), `#` comments. */
export function parseEnvFile(text: string, file: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const key = keyOf(line);
    if (key === '') throw new InvalidOptionError('--env-file', `${file}: a line has no variable name`);
    if (/\s/.test(key))
      throw new InvalidOptionError('--env-file', `${file}: variable '${key}' contains whitespaces`);
    out.push(line.includes('=') ? line : process.env[key] === undefined ? key : `${key}=${process.env[key]}`);
  }
  return out;
}

export async function readEnvFiles(files: string[] | undefined): Promise<string[]> {
  const out: string[] = [];
  for (const f of files ?? []) out.push(...parseEnvFile(await readFile(f, 'utf8'), f));
  return out;
}

/**
 * The container's environment in docker's order: PATH (the image's, else docker's default),
 * HOSTNAME, TERM with a tty, then the user's variables (env files, then -e), then the image's
 * variables the user did not set. A bare `K` from the user removes K. The runtime adds HOME.
 */
export function containerEnv(opts: {
  imageEnv: readonly string[];
  userEnv: readonly string[];
  hostname: string;
  tty: boolean;
}): string[] {
  const userKeys = new Set(opts.userEnv.map(keyOf));
  const config = [...opts.userEnv, ...opts.imageEnv.filter((e) => !userKeys.has(keyOf(e)))];
  const env: Array<string | undefined> = [DEFAULT_PATH, `HOSTNAME=${opts.hostname}`];
  if (opts.tty) env.push('TERM=xterm');
  const index = new Map(env.map((e, i) => [keyOf(e!), i]));
  for (const e of config) {
    const k = keyOf(e);
    const at = index.get(k);
    if (!e.includes('=')) {
      if (at !== undefined) env[at] = undefined;
      continue;
    }
    if (at !== undefined) env[at] = e;
    else {
      index.set(k, env.length);
      env.push(e);
    }
  }
  return env.filter((e): e is string => e !== undefined);
}
