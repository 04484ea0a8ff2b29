#!/usr/bin/env node
import { runCli } from './cli.js';

// Ctrl-C aborts the running command (temporary files are removed, bars cleared); a second one
// ends the process at once.
const controller = new AbortController();
process.on('SIGINT', () => {
  // A command with its own handler (pd run forwards signals to the container) decides what a
  // second Ctrl-C does.
  if (controller.signal.aborted && process.listenerCount('SIGINT') === 1) process.exit(130);
  controller.abort();
});
// A closed pipe (`pd manifest x | head -c1`) is not an error worth a message.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

const code = await runCli(process.argv.slice(2), process, controller.signal);
process.exitCode = code;
// Nothing should keep the event loop alive now; if something does, do not hang the shell.
setTimeout(() => process.exit(code), 2000).unref();
