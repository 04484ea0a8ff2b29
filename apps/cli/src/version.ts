// Both builds define this (scripts/bundle-dist.mjs for dist/, scripts/bundle.mjs for the
// self-contained bundle); the sources, as tests run them, read the package.json beside them.
declare const __PD_VERSION__: string | undefined;

function readVersion(): string {
  if (typeof __PD_VERSION__ === 'string') return __PD_VERSION__;
  try {
    const { readFileSync } = process.getBuiltinModule('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const VERSION = readVersion();
