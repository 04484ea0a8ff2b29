// The first lines of pd's executables (dist/main.js, bundle/pd.mjs). Node 20 looks for
// `--env-file` in its whole command line, the script's arguments included, and exits 9 when the
// file is missing: `pd run --env-file ./x.env` never reached pd. Node stops looking at `--`, so
// the file starts as a shell script that runs `node -- FILE ARGS...`; to JavaScript the second
// line is a string and a comment. `node FILE` still works (and still has Node's limitation).
import { chmod, readFile, writeFile } from 'node:fs/promises';

export const LAUNCHER = '#!/bin/sh\n":" // ; exec node -- "$0" "$@"\n';

/** Replace the `#!` line of `file` (if any) with the launcher, and make the file executable. */
export async function installLauncher(file) {
  const text = await readFile(file, 'utf8');
  const body = text.startsWith('#!') ? text.slice(text.indexOf('\n') + 1) : text;
  await writeFile(file, LAUNCHER + body);
  await chmod(file, 0o755);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) {
  for (const file of process.argv.slice(2)) await installLauncher(file);
}
