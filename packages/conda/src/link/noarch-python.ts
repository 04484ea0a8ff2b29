/**
 * Where a file of a `noarch: python` package goes: `site-packages/` under the environment's
 * `lib/pythonX.Y/site-packages/`, `python-scripts/` under `bin/`; anything else unchanged.
 */
export function noarchPythonPath(path: string, sitePackages: string): string {
  if (path.startsWith('site-packages/')) return `${sitePackages}/${path.slice('site-packages/'.length)}`;
  if (path.startsWith('python-scripts/')) return `bin/${path.slice('python-scripts/'.length)}`;
  return path;
}

/** Compiled files made for the packager's Python: the target's Python compiles its own. */
export function isBytecode(path: string): boolean {
  return path.endsWith('.pyc') || path.includes('/__pycache__/');
}

/** `lib/python3.12/site-packages` for python 3.12.x (or the `python_site_packages_path` of the python package). */
export function sitePackagesFor(pythonVersion: string): string {
  const m = /^(\d+)\.(\d+)/.exec(pythonVersion);
  if (!m) throw new RangeError(`cannot tell the python version of ${pythonVersion}`);
  return `lib/python${m[1]}.${m[2]}/site-packages`;
}

export interface EntryPoint {
  command: string;
  module: string;
  func: string;
}

/** Parse `name = package.module:function` (extras in brackets are ignored, as conda does). */
export function parseEntryPoint(spec: string): EntryPoint | undefined {
  const m = /^\s*([^=\s]+)\s*=\s*([A-Za-z0-9_.]+)\s*:\s*([A-Za-z0-9_.]+)\s*(\[.*\])?\s*$/.exec(spec);
  if (!m) return undefined;
  return { command: m[1]!, module: m[2]!, func: m[3]! };
}

/** Linux limits a shebang line; beyond it the script asks `env` for python instead. */
const MAX_SHEBANG = 127;

/** The `bin/<command>` script for an entry point, run by the environment's python. */
export function entryPointScript(ep: EntryPoint, prefix: string): string {
  const direct = `#!${prefix}/bin/python`;
  const shebang = direct.length <= MAX_SHEBANG ? direct : '#!/usr/bin/env python';
  const top = ep.func.split('.')[0]!;
  return [
    shebang,
    '# -*- coding: utf-8 -*-',
    'import re',
    'import sys',
    '',
    `from ${ep.module} import ${top}`,
    '',
    "if __name__ == '__main__':",
    "    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])",
    `    sys.exit(${ep.func}())`,
    '',
  ].join('\n');
}
