import { describe, expect, it } from 'vitest';
import { commandOptions, GLOBAL_OPTIONS, parseCommandArgs } from '../src/args.js';
import type { Command, OptionTable } from '../src/command.js';
import { COMMANDS } from '../src/commands/index.js';
import { commandHelp } from '../src/help.js';

/**
 * Help against the parser: every option a help text names (usage, description, JSON shape,
 * examples) is one the command accepts, every example parses, and every option the command
 * accepts is in its help.
 */

/** Shell-like words of one command line: quotes kept together, `$(...)` as one word. */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"[^"]*"|'[^']*'|\$\([^)]*\)|[^\s]+/g;
  for (const m of line.matchAll(re)) out.push(m[0].replace(/^(["'])(.*)\1$/, '$2'));
  return out;
}

/** The `pd NAME ...` parts of an example (which may pipe into other tools or run several). */
function pdInvocations(example: string, name: string): string[][] {
  const found: string[][] = [];
  for (const part of example.split(/&&|\|\||\||;|[$<]\(|\)|>/)) {
    const w = words(part.trim());
    const at = w.indexOf('pd');
    if (at === -1) continue;
    const nameWords = name.split(' ');
    if (nameWords.every((n, i) => w[at + 1 + i] === n)) found.push(w.slice(at + 1 + nameWords.length));
  }
  return found;
}

/** Option names in prose: `--flag` and `-x`, not inside references or paths. */
function mentionedOptions(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(/(?<![\w/.:-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])/g)) names.add(m[1]!);
  return [...names];
}

/** Options of other commands that a help text names on purpose (cache prune: runs "without --rm"). */
const OTHERS: Record<string, string[]> = { 'cache ls': ['--rm'], 'cache prune': ['--rm'] };

const commands: Command[] = await Promise.all([...COMMANDS.values()].map((c) => c.load()));

describe.each(commands.map((c) => [c.name, c] as const))('pd %s', (_name, cmd) => {
  const table: OptionTable = { ...commandOptions(cmd), ...GLOBAL_OPTIONS };
  const accepted = new Set<string>();
  for (const [n, spec] of Object.entries(table)) {
    accepted.add(`--${n}`);
    if (spec.short) accepted.add(`-${spec.short}`);
  }

  it('names only options it accepts (usage, description, JSON shape)', () => {
    // Options written after another command's name (`a pd pull --format oci / pd push round trip`)
    // are that command's.
    const prose = [cmd.usage, cmd.description ?? '', cmd.json ?? '']
      .join('\n')
      .replace(/\bpd ([a-z]+)((?:\s+--?[a-z][\w-]*(?:\s+(?!-)[^\s/,;]+)?)*)/g, (all, name: string) =>
        cmd.name.split(' ')[0] === name ? all : '',
      );
    const unknown = mentionedOptions(prose).filter((o) => !accepted.has(o) && !OTHERS[cmd.name]?.includes(o));
    expect(unknown, `${cmd.name} help names ${unknown.join(', ')}`).toEqual([]);
  });

  it('every example parses', () => {
    for (const ex of cmd.examples) {
      const runs = pdInvocations(ex.command, cmd.name);
      expect(runs.length, `example "${ex.command}" runs pd ${cmd.name}`).toBeGreaterThan(0);
      for (const argv of runs) {
        expect(
          () => parseCommandArgs(argv, table, cmd.args, cmd.stopAfterArg),
          `example "${ex.command}"`,
        ).not.toThrow();
      }
    }
  });

  it('documents every option it accepts', () => {
    const help = commandHelp(cmd);
    for (const [n, spec] of Object.entries(table)) {
      expect(help).toContain(spec.short ? `-${spec.short}, --${n}` : `--${n}`);
    }
  });
});
