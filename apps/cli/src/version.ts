import { readFileSync } from 'node:fs';

// The bundle defines this at build time; dist/ reads the package.json beside it.
declare const __PD_VERSION__: string | undefined;

function readVersion(): string {
  if (typeof __PD_VERSION__ === 'string') return __PD_VERSION__;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const VERSION = readVersion();
