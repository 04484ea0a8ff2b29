import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

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
