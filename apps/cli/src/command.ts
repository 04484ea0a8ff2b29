import type { Context } from './context.js';

/** One option of a command, as `node:util` parseArgs understands it, plus what help prints. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Repeatable (`--env A=1 --env B=2`): the value is an array. */
  multiple?: boolean;
  /** Placeholder in help: `--output PATH`. */
  value?: string;
  /** Allowed values, checked before the command runs and offered by shell completion. */
  choices?: readonly string[];
  /** What the value is, for shell completion. */
  complete?: 'file' | 'dir';
  description: string;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** Parsed values of an option table: strings, booleans, or arrays for repeatable options. */
export type Values<O extends OptionTable> = {
  [K in keyof O]: O[K]['type'] extends 'boolean'
    ? boolean | undefined
    : O[K]['multiple'] extends true
      ? string[]
      : string | undefined;
};

export interface ArgSpec {
  name: string;
  /** Default true. */
  required?: boolean;
  /** Takes every remaining positional. */
  variadic?: boolean;
  complete?: 'file' | 'dir';
}

export interface Example {
  command: string;
  note: string;
}

export interface Invocation<O extends OptionTable> {
  values: Values<O>;
  /** Positionals by name (variadic ones joined in `rest`). */
  args: Record<string, string | undefined>;
  /** The variadic positional, and anything after `--`. */
  rest: string[];
}

interface CommandBase {
  /** Full name, with a space for sub-commands: `layer create`. */
  name: string;
  /** Arguments after the name, for the usage line: `REF [-o FILE]`. */
  usage: string;
  description?: string;
  args: readonly ArgSpec[];
  examples: readonly Example[];
  /** Shape of the `--json` output, shown in help; absent when the command returns no data. */
  json?: string;
  /**
   * Options end at this positional: everything after it belongs to the command (`pd run IMAGE ls -l`),
   * the way docker run treats the arguments after the image.
   */
  stopAfterArg?: string;
}

export interface CommandDef<O extends OptionTable> extends CommandBase {
  options: O;
  run(ctx: Context, inv: Invocation<O>): Promise<number | undefined>;
}

export type RawValue = string | boolean | string[] | undefined;

/** What the parser produces, before the option types of a command are applied. */
export interface RawInvocation {
  values: Record<string, RawValue>;
  args: Record<string, string | undefined>;
  rest: string[];
}

/** A command module's definition with its option types erased. */
export interface DefinedCommand extends CommandBase {
  options: OptionTable;
  run(ctx: Context, inv: RawInvocation): Promise<number | undefined>;
}

/** A loaded command as the command table gives it: the definition and its summary line. */
export interface Command extends DefinedCommand {
  summary: string;
}

/** Typed definition of a command: `run` sees its option values with their types. */
export function defineCommand<const O extends OptionTable>(def: CommandDef<O>): DefinedCommand {
  return def as unknown as DefinedCommand;
}
