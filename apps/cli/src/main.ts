#!/usr/bin/env node
import { setMaxListeners } from 'node:events';
import module from 'node:module';
import { runCli } from './cli.js';
import type { Io } from './context.js';
import { keepFreedMemory } from './malloc.js';
import { proxyConfigured } from './proxy.js';

// undici parses HTTP with llhttp compiled to WebAssembly. V8 compiles it with Liftoff, then again
// with TurboFan on background threads, and Node waits for those at exit: 100-200 ms of every
// registry command that went through it on a 2-core machine (a copy took 0.48 s, 0.42 s without;
// RSS 95 MB, 60 MB), and Liftoff code parses fast enough that pulls got faster too
// (bench/results/2026-12-05.md). Registries reached directly now go through node:http and
// node:https, so pd loads undici only for a forward proxy (HTTP(S)_PROXY): without one, no command
// but the heavy ones compiles WebAssembly, and none loads node:v8 for the flag (3 ms of `pd run`'s
// start-up, of help's and version's). Not where WebAssembly does heavy work, which Liftoff code
// does ~25% slower: the zstd encoder and the conda solver (build, conda build, layer create, any
// zstd option). V8 flags are per process: the CLI sets it, the libraries leave it to their host.
// Set before the first connection.
const words = process.argv.slice(2);
const command = words.find((w) => !w.startsWith('-'));
const heavyWasm =
  ['build', 'conda', 'layer'].includes(command ?? '') || words.some((w) => w.includes('zstd'));
const noWasm =
  !proxyConfigured(process.env) ||
  command === undefined ||
  ['version', 'help'].includes(command) ||
  words.some((w) => w === '--help' || w === '-h');
if (!heavyWasm && !noWasm) process.getBuiltinModule('node:v8').setFlagsFromString('--liftoff-only');
// Not for help and version, which move no data (malloc.ts).
if (command !== undefined && !['version', 'help'].includes(command)) keepFreedMemory();

// Ctrl-C aborts the running command (temporary files are removed, bars cleared); a second one
// ends the process at once.
const controller = new AbortController();
// Every transfer of a command listens on this signal; a pull of many layers holds more than the
// ten after which Node prints a leak warning on the user's terminal.
setMaxListeners(0, controller.signal);
process.on('SIGINT', () => {
  // A command with its own handler (pd run forwards signals to the container) decides what a
  // second Ctrl-C does.
  if (controller.signal.aborted && process.listenerCount('SIGINT') === 1) process.exit(130);
  controller.abort();
});
// A closed pipe (`pd manifest x | head -c1`) is not an error worth a message.
const closedPipe = (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
};
// The stdio streams are made on first use: making one loads Node's stream modules (4 ms), which
// help and version, printing through writeOut, never need.
let stdout: NodeJS.WriteStream | undefined;
const io: Io = {
  get stdout() {
    if (!stdout) {
      stdout = process.stdout;
      stdout.on('error', closedPipe);
    }
    return stdout;
  },
  get stderr() {
    return process.stderr;
  },
  get stdin() {
    return process.stdin;
  },
  env: process.env,
  writeOut(text) {
    // Once the stream exists, everything goes through it, in order.
    if (stdout) {
      stdout.write(text);
      return;
    }
    const { writeSync } = process.getBuiltinModule('node:fs');
    const bytes = Buffer.from(text);
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(1, bytes, done);
    } catch (e) {
      // A non-blocking stdout that is full: the stream waits for it.
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') io.stdout.write(bytes.subarray(done));
      else closedPipe(e as NodeJS.ErrnoException);
    }
  },
};

// Node 22.1+ keeps V8's compiled code of modules in a cache on disk (os.tmpdir() unless
// NODE_COMPILE_CACHE says otherwise; NODE_DISABLE_COMPILE_CACHE=1 turns it off), so later runs
// skip most compiling: copy 10 ms faster. Node 20 has no such call. It covers the modules loaded
// after it, which are the heavy ones: a command's module, the packages it imports and undici are
// all loaded on demand. cli.js stays a static import: importing it dynamically, so that the
// cache covered it too, cost Node 20 6-9 ms (bench/results/2026-12-05-b.md).
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
const code = await runCli(process.argv.slice(2), io, controller.signal);
process.exitCode = code;
// Nothing should keep the event loop alive now; if something does, do not hang the shell.
setTimeout(() => process.exit(code), 2000).unref();
