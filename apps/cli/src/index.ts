export { runCli } from './cli.js';
export type { Command, CommandDef, OptionSpec, OptionTable } from './command.js';
export { COMMAND_GROUPS, COMMANDS } from './commands/index.js';
export type { Io } from './context.js';
