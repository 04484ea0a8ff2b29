import { PdError } from '@pd/oci-types/errors';
import { commandOptions, flagName, GLOBAL_OPTIONS, parseCommandArgs, takesPlatform } from './args.js';
import type { Command, OptionTable } from './command.js';
import { COMMAND_GROUPS, COMMANDS, type CommandEntry, commandFamilies } from './commands/index.js';
import { PLATFORMS_OPTION } from './commands/platform-options.js';
import { Context, type GlobalFlags, type Io, writeOut } from './context.js';
import { commandHelp, familyHelp, mainHelp, usageLine } from './help.js';
import { describeError, errorDetails, isAbort, UsageError } from './output/errors.js';
import { configureProxy } from './proxy.js';
import { VERSION } from './version.js';

interface Resolved {
  command: Command | undefined;
  /** A family name (`layer`) typed without, or with an unknown, sub-command. */
  family: string | undefined;
  rest: string[];
}

async function resolve(words: readonly string[]): Promise<Resolved> {
  const [first, second] = words;
  if (first === undefined) return { command: undefined, family: undefined, rest: [] };
  if (second !== undefined) {
    const sub = COMMANDS.get(`${first} ${second}`);
    if (sub) return { command: await sub.load(), family: undefined, rest: words.slice(2) };
  }
  const cmd = COMMANDS.get(first);
  if (cmd) return { command: await cmd.load(), family: undefined, rest: words.slice(1) };
  if (commandFamilies().has(first)) return { command: undefined, family: first, rest: words.slice(1) };
  return { command: undefined, family: undefined, rest: words.slice(1) };
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = 3;
  for (const c of candidates) {
    const score = distance(word, c);
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

function familyMembers(family: string): CommandEntry[] {
  return [...COMMANDS.values()].filter((c) => c.name.startsWith(`${family} `));
}

function printError(io: Io, e: unknown, flags: { verbose: boolean }, command?: Command): number {
  const { line, exitCode } = describeError(e);
  io.stderr.write(`${line}\n`);
  if (e instanceof UsageError) {
    if (command) {
      io.stderr.write(
        `usage: ${usageLine(command)}\nRun 'pd help ${command.name}' for options and examples.\n`,
      );
    }
    return exitCode;
  }
  // An interrupt is no failure of pd's: no stack, even with --verbose.
  if ((flags.verbose || io.env.PD_DEBUG === '1') && !isAbort(e)) io.stderr.write(`${errorDetails(e)}\n`);
  return exitCode;
}

async function findFamilyOrCommandForHelp(words: readonly string[]): Promise<string | undefined> {
  const r = await resolve(words);
  if (r.command && r.rest.length === 0) return commandHelp(r.command);
  if (r.family && r.rest.length === 0) return familyHelp(r.family, familyMembers(r.family));
  return undefined;
}

/** Run one `pd` invocation; resolves with the exit code. */
export async function runCli(
  argv: readonly string[],
  io: Io,
  signal: AbortSignal = new AbortController().signal,
): Promise<number> {
  const flags: GlobalFlags & { help: boolean } = {
    json: false,
    quiet: false,
    verbose: false,
    insecure: false,
    help: false,
  };
  const shortGlobals = new Map<string, keyof typeof flags>([
    ['q', 'quiet'],
    ['h', 'help'],
  ]);
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-') break;
    if (a === '--version') {
      writeOut(io, `pd ${VERSION}\n`);
      return 0;
    }
    const long = a.startsWith('--') ? a.slice(2) : undefined;
    const name = long !== undefined ? long : a.length === 2 ? shortGlobals.get(a[1]!) : undefined;
    if (name === undefined || !(name in flags)) {
      return printError(
        io,
        new UsageError(`unknown option ${a}`, 'options of a command go after its name; run pd --help'),
        flags,
      );
    }
    flags[name as keyof typeof flags] = true;
  }
  const words = argv.slice(i);

  if (words.length === 0) {
    writeOut(io, mainHelp(COMMAND_GROUPS));
    return 0;
  }
  if (words[0] === 'help') {
    const topic = words.slice(1);
    if (topic.length === 0) {
      writeOut(io, mainHelp(COMMAND_GROUPS));
      return 0;
    }
    const text = await findFamilyOrCommandForHelp(topic);
    if (text) {
      writeOut(io, text);
      return 0;
    }
    return unknownCommand(io, topic.join(' '), flags);
  }

  const { command, family, rest } = await resolve(words);
  if (!command) {
    if (family) {
      const members = familyMembers(family);
      if (flags.help || rest.includes('--help') || rest.includes('-h')) {
        writeOut(io, familyHelp(family, members));
        return 0;
      }
      const sub = rest[0];
      const names = members.map((c) => c.name.slice(family.length + 1));
      if (sub === undefined) {
        return printError(
          io,
          new UsageError(`pd ${family} needs a command: ${names.join(', ')}`, `run pd help ${family}`),
          flags,
        );
      }
      return unknownCommand(
        io,
        `${family} ${sub}`,
        flags,
        members.map((c) => c.name),
      );
    }
    return unknownCommand(io, words[0]!, flags);
  }

  const options: OptionTable = { ...commandOptions(command), ...GLOBAL_OPTIONS };
  let parsed: ReturnType<typeof parseCommandArgs>;
  try {
    parsed = parseCommandArgs(rest, options, command.args, command.stopAfterArg);
    await checkPlatformOptions(command, parsed.values);
    checkPaths(command, parsed);
  } catch (e) {
    const beforeTerminator = rest.slice(0, rest.indexOf('--') === -1 ? rest.length : rest.indexOf('--'));
    if (flags.help || beforeTerminator.includes('--help') || beforeTerminator.includes('-h')) {
      writeOut(io, commandHelp(command));
      return 0;
    }
    return printError(io, e, flags, command);
  }
  const v = parsed.values;
  if (flags.help || v.help === true) {
    writeOut(io, commandHelp(command));
    return 0;
  }
  const ctx = new Context(
    io,
    {
      json: flags.json || v.json === true,
      quiet: flags.quiet || v.quiet === true,
      verbose: flags.verbose || v.verbose === true,
      insecure: flags.insecure || v.insecure === true,
    },
    signal,
  );
  ctx.forcePlatform = v['force-platform'] === true;
  let failure: { error: unknown } | undefined;
  let code = 0;
  try {
    if (await configureProxy(io.env))
      ctx.log('using the proxy from HTTP_PROXY / HTTPS_PROXY (NO_PROXY honoured)');
    code = (await command.run(ctx, parsed)) ?? 0;
  } catch (e) {
    failure = { error: e };
    // Half-drawn bars of an interrupted command are erased: `pd: interrupted` stands alone.
    if (isAbort(e)) ctx.progress.abandon();
  } finally {
    await ctx.close().catch(() => undefined);
  }
  if (failure) return printError(io, failure.error, ctx.flags, command);
  return code;
}

/** A path option or argument given as "" (`-o ""`) names nothing: say so before any work. */
function checkPaths(command: Command, parsed: ReturnType<typeof parseCommandArgs>): void {
  for (const [name, spec] of Object.entries(command.options)) {
    if (spec.complete === undefined) continue;
    const value = parsed.values[name];
    const values = Array.isArray(value) ? value : [value];
    if (values.includes('')) {
      throw new UsageError(
        `${flagName(name, spec)} is empty`,
        `give a ${spec.complete === 'dir' ? 'directory' : 'path'}`,
      );
    }
  }
  for (const spec of command.args) {
    if (spec.complete !== undefined && !spec.variadic && parsed.args[spec.name] === '') {
      throw new UsageError(
        `${spec.name} is empty`,
        `give a ${spec.complete === 'dir' ? 'directory' : 'path'}`,
      );
    }
  }
}

/** --platform is checked before the command runs: a typo never reaches a registry. */
async function checkPlatformOptions(command: Command, values: Record<string, unknown>): Promise<void> {
  if (!takesPlatform(command)) return;
  if (typeof values.platform !== 'string') {
    if (values['force-platform'] === true) throw new UsageError('--force-platform goes with --platform');
    return;
  }
  const { checkPlatformValue } = await import('./commands/platform.js');
  try {
    checkPlatformValue(
      values.platform,
      command.name,
      command.options.platform?.value === PLATFORMS_OPTION.value,
    );
  } catch (e) {
    // A wrong option value is a usage error (exit 2, usage line), whatever parser found it.
    if (e instanceof PdError && !(e instanceof UsageError)) throw new UsageError(e.message, e.hint);
    throw e;
  }
}

function unknownCommand(io: Io, name: string, flags: { verbose: boolean }, candidates?: string[]): number {
  const all = candidates ?? [...new Set([...COMMANDS.keys()].map((n) => n.split(' ')[0]!))];
  const guess = suggest(name, all);
  const hint = guess
    ? `did you mean pd ${guess}? run pd --help for the list`
    : 'run pd --help for the list of commands';
  return printError(io, new UsageError(`unknown command "${name}"`, hint), flags);
}
