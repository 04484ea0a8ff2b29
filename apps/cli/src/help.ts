import { commandOptions, flagName, GLOBAL_OPTIONS } from './args.js';
import type { Command, OptionTable } from './command.js';
import { VERSION } from './version.js';

function optionRows(options: OptionTable): Array<[string, string]> {
  return Object.entries(options).map(([name, spec]) => {
    const value = spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : '';
    const choices = spec.choices ? ` (${spec.choices.join('|')})` : '';
    const repeat = spec.multiple ? ' (repeatable)' : '';
    return [`${flagName(name, spec)}${value}`, `${spec.description}${choices}${repeat}`];
  });
}

function table(rows: Array<[string, string]>, indent = 2): string {
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  return rows
    .map(([left, right]) =>
      left.length + 2 > width
        ? `${' '.repeat(indent)}${left}\n${' '.repeat(indent + width)}${right}`
        : `${' '.repeat(indent)}${left.padEnd(width)}${right}`,
    )
    .join('\n');
}

export function usageLine(cmd: Command): string {
  return `pd ${cmd.name} ${cmd.usage}`.trimEnd();
}

/** Full help of one command: usage, options, JSON shape, examples. */
export function commandHelp(cmd: Command): string {
  const parts = [`pd ${cmd.name}: ${cmd.summary}`, '', `Usage: ${usageLine(cmd)}`];
  if (cmd.description) parts.push('', cmd.description.trim());
  const own = optionRows(commandOptions(cmd));
  if (own.length > 0) parts.push('', 'Options:', table(own));
  parts.push('', 'Global options:', table(optionRows(GLOBAL_OPTIONS)));
  if (cmd.json) {
    parts.push('', 'JSON output (--json):', cmd.json.trim().replace(/^/gm, '  '));
  }
  if (cmd.examples.length > 0) {
    parts.push('', 'Examples:');
    for (const ex of cmd.examples) parts.push(`  # ${ex.note}`, `  ${ex.command}`);
  }
  return `${parts.join('\n')}\n`;
}

/** Help of a command family (`pd layer`): its sub-commands. */
/** What the lists of commands show: a name and its summary (no module loaded). */
type Listed = Pick<Command, 'name' | 'summary'>;

export function familyHelp(family: string, commands: readonly Listed[]): string {
  const rows: Array<[string, string]> = commands.map((c) => [c.name, c.summary]);
  return `Usage: pd ${family} <command> [options]\n\nCommands:\n${table(rows)}\n\nRun 'pd help ${family} <command>' for details.\n`;
}

export function mainHelp(groups: ReadonlyArray<{ title: string; commands: readonly Listed[] }>): string {
  const parts = [
    `pd ${VERSION}: container images without Docker`,
    '',
    'Usage: pd <command> [options]',
    '',
    'References are written as for docker: ubuntu, ghcr.io/org/app:1.2, localhost:5000/x@sha256:...',
    'Registries on loopback (localhost, 127.0.0.1, ::1) are reached over plain HTTP with no flag.',
    'Images in files are written as for skopeo: docker-archive:FILE[:TAG|:@N], oci:DIR[:REF],',
    'oci-archive:FILE[:REF], or PATH, PATH:TAG, PATH:@N (N counts from 0); docker://REF forces a registry.',
  ];
  for (const g of groups) {
    parts.push('', `${g.title}:`, table(g.commands.map((c): [string, string] => [c.name, c.summary])));
  }
  parts.push(
    '',
    'Global options:',
    table(optionRows(GLOBAL_OPTIONS)),
    '',
    'Environment:',
    table([
      ['DOCKER_CONFIG', 'directory of config.json holding registry credentials (default ~/.docker)'],
      ['PD_CACHE_DIR', 'blob and layer cache (default $XDG_CACHE_HOME/pd or ~/.cache/pd)'],
      ['SOURCE_DATE_EPOCH', 'timestamp written into layers and configs, for reproducible images'],
      [
        'HTTP(S)_PROXY, NO_PROXY',
        'forward proxy for registries and conda channels (loopback registries: direct)',
      ],
      ['PD_DEBUG=1', 'print stack traces of errors (like --verbose)'],
    ]),
    '',
    "Run 'pd help <command>' or 'pd <command> --help' for the options and examples of a command.",
  );
  return `${parts.join('\n')}\n`;
}
