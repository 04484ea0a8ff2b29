import type { ArgSpec, Command, OptionSpec, OptionTable, RawInvocation, RawValue } from './command.js';
import { CONDA_PLATFORMS_VALUE, FORCE_PLATFORM_OPTION } from './commands/platform-options.js';
import { UsageError } from './output/errors.js';

export type ParsedArgs = RawInvocation;

/** Options every command accepts, before or after its name. */
export const GLOBAL_OPTIONS = {
  json: { type: 'boolean', description: 'print the result as JSON on stdout (shape in each command help)' },
  quiet: { type: 'boolean', short: 'q', description: 'print nothing but results and errors' },
  verbose: { type: 'boolean', description: 'log each step to stderr; print stack traces of errors' },
  insecure: {
    type: 'boolean',
    description: 'allow plain HTTP and unverified TLS for every registry (loopback ones need no flag)',
  },
  help: { type: 'boolean', short: 'h', description: 'show help for the command' },
} as const satisfies OptionTable;

/** Whether `--platform` picks an image (conda build's names conda subdirs to build for). */
export function takesPlatform(cmd: Pick<Command, 'options'>): boolean {
  const spec = cmd.options.platform;
  return spec !== undefined && spec.type === 'string' && spec.value !== CONDA_PLATFORMS_VALUE;
}

/**
 * A command's own options as the parser, help and completion see them: a command that picks an
 * image by --platform also takes --force-platform, so no command can forget it.
 */
export function commandOptions(cmd: Pick<Command, 'options'>): OptionTable {
  return takesPlatform(cmd) ? { ...cmd.options, 'force-platform': FORCE_PLATFORM_OPTION } : cmd.options;
}

export function flagName(name: string, spec: OptionSpec): string {
  return spec.short ? `-${spec.short}, --${name}` : `--${name}`;
}

/**
 * Split argv where options stop: after the positional at index `stopAt` (0-based), the rest is
 * passed through untouched, like `docker run IMAGE CMD...`.
 */
function splitAtPositional(
  argv: readonly string[],
  options: OptionTable,
  stopAt: number,
): { head: string[]; tail: string[] | undefined } {
  const shorts = new Map<string, OptionSpec>();
  for (const spec of Object.values(options)) if (spec.short) shorts.set(spec.short, spec);
  let seen = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return { head: argv.slice(0, i), tail: argv.slice(i + 1) };
    if (a.startsWith('--')) {
      if (!a.includes('=') && options[a.slice(2)]?.type === 'string') i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        if (shorts.get(a[j]!)?.type === 'string') {
          if (j === a.length - 1) i++;
          break;
        }
      }
      continue;
    }
    if (seen++ === stopAt) {
      // `IMAGE -- CMD...` and `IMAGE CMD...` mean the same.
      const tail = argv.slice(i + 1);
      return { head: argv.slice(0, i + 1), tail: tail[0] === '--' ? tail.slice(1) : tail };
    }
  }
  return { head: [...argv], tail: undefined };
}

/**
 * Parse a command's arguments with `node:util` parseArgs, then check them against the table with
 * messages of our own (parseArgs' own errors echo values, which may be passwords).
 */
export function parseCommandArgs(
  argv: readonly string[],
  options: OptionTable,
  argSpecs: readonly ArgSpec[],
  stopAfterArg?: string,
): ParsedArgs {
  const stopAt = stopAfterArg === undefined ? -1 : argSpecs.findIndex((a) => a.name === stopAfterArg);
  const { head, tail } =
    stopAt >= 0 ? splitAtPositional(argv, options, stopAt) : { head: [...argv], tail: [] };
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(options)) {
    config[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
    };
  }
  // Taken here, not imported: an ES import of node:util also loads what its namespace names.
  const { parseArgs } = process.getBuiltinModule('node:util');
  const { tokens } = parseArgs({
    args: head,
    options: config,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });

  const values: Record<string, RawValue> = {};
  for (const [name, spec] of Object.entries(options)) if (spec.multiple) values[name] = [];
  const positionals: string[] = [];
  let afterTerminator: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') {
      positionals.push(t.value);
      continue;
    }
    if (t.kind === 'option-terminator') {
      afterTerminator = head.slice(t.index + 1);
      break;
    }
    const spec = options[t.name];
    if (!spec) throw new UsageError(`unknown option ${t.rawName}`);
    if (spec.type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`option ${t.rawName} takes no value`);
      values[t.name] = true;
      continue;
    }
    if (t.value === undefined)
      throw new UsageError(`option ${t.rawName} needs a value (${spec.value ?? 'VALUE'})`);
    if (spec.choices && !spec.choices.includes(t.value)) {
      throw new UsageError(`option ${t.rawName} must be one of ${spec.choices.join(', ')}`);
    }
    if (spec.multiple) (values[t.name] as string[]).push(t.value);
    else values[t.name] = t.value;
  }
  // parseArgs stops at `--` itself; positionals after it were not tokenized as options.
  const trailing = [...afterTerminator, ...(tail ?? [])];

  const args: Record<string, string | undefined> = {};
  const rest: string[] = [];
  let i = 0;
  for (const spec of argSpecs) {
    if (spec.variadic) {
      rest.push(...positionals.slice(i));
      i = positionals.length;
      if (spec.required !== false && rest.length === 0 && trailing.length === 0) {
        throw new UsageError(`missing argument ${spec.name}`);
      }
      continue;
    }
    const v = positionals[i++];
    if (v === undefined && spec.required !== false) throw new UsageError(`missing argument ${spec.name}`);
    args[spec.name] = v;
  }
  if (i < positionals.length) {
    const n = argSpecs.filter((a) => !a.variadic).length;
    // Never echo the argument: a misplaced password must not land in a terminal or a CI log.
    throw new UsageError(
      `too many arguments (expected ${n === 0 ? 'none' : `at most ${n}`}, got ${positionals.length})`,
    );
  }
  if (trailing.length > 0 && !argSpecs.some((a) => a.variadic) && stopAt < 0) {
    throw new UsageError(`too many arguments (nothing is expected after --)`);
  }
  rest.push(...trailing);
  return { values, args, rest };
}
