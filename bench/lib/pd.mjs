// pd as users run it: the built CLI in a child process.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnCollect } from './measure.mjs';
import { notRun } from './result.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PD_MAIN = join(ROOT, 'apps', 'cli', 'dist', 'main.js');

/** argv of `pd ...args` (node, the CLI's main, the arguments). */
export function pdArgv(...args) {
  return [process.execPath, PD_MAIN, ...args];
}

const known = new Map();

/** Why `pd <command>` cannot be measured (not built, or no such command yet), else undefined. */
export async function pdCommandMissing(command) {
  if (!existsSync(PD_MAIN)) return 'the CLI is not built (pnpm build)';
  if (!known.has(command)) {
    const r = await spawnCollect(process.execPath, [PD_MAIN, 'help', ...command.split(' ')], {
      timeoutMs: 30_000,
    });
    known.set(command, r.code === 0 && r.stdout.startsWith(`pd ${command}:`));
  }
  return known.get(command) ? undefined : `no \`pd ${command}\` command in the CLI yet`;
}

/** Environment for a pd run: the caller's, with a given blob cache and no inherited debug output. */
export function pdEnv(cacheDir, extra = {}) {
  const env = { ...process.env, PD_CACHE_DIR: cacheDir, ...extra };
  delete env.PD_DEBUG;
  return env;
}

/**
 * The keys of `cases` ({ name, target } each) whose pd command (`commandOf(key)`) exists, and a
 * "not run" row for each of the others.
 */
export async function runnable(cases, keys, commandOf) {
  const todo = [];
  const rows = [];
  for (const key of keys) {
    const missing = await pdCommandMissing(commandOf(key));
    if (missing) rows.push(notRun(cases[key].name, cases[key].target, missing));
    else todo.push(key);
  }
  return { todo, rows };
}
