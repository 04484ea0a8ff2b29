import { execFileSync } from 'node:child_process';

const cache = new Map<string, string | undefined>();

/** Absolute path of an executable on PATH (or in the usual sbin dirs), or undefined. */
export function which(tool: string): string | undefined {
  if (cache.has(tool)) return cache.get(tool);
  let found: string | undefined;
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      execFileSync('test', ['-x', `${dir}/${tool}`]);
      found = `${dir}/${tool}`;
      break;
    } catch {
      // not here
    }
  }
  cache.set(tool, found);
  return found;
}

export function hasTool(tool: string): boolean {
  return which(tool) !== undefined;
}

/** Why a test group is skipped, or undefined when every tool is there. Use with describe.skipIf. */
export function missingTools(...tools: string[]): string | undefined {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) return undefined;
  const reason = `skipped: ${missing.join(', ')} not installed (.ci/run installs it)`;
  process.stderr.write(`[pd tests] ${reason}\n`);
  return reason;
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
