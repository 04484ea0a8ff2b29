#!/usr/bin/env node
// Entry point of the `pd` command. Temporary shell until the CLI issue lands its command set.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
const args = process.argv.slice(2);
if (args[0] === 'version' || args[0] === '--version') {
  process.stdout.write(`pd ${pkg.version}\n`);
} else if (args.length === 0 || args[0] === '--help' || args[0] === 'help') {
  process.stdout.write(
    'pd: container images without Docker\n\nUsage: pd <command> [options]\n\n  version   print the version\n',
  );
} else {
  process.stderr.write(`pd: unknown command "${args[0]}" (run pd --help)\n`);
  process.exit(2);
}
