import { commandOptions, GLOBAL_OPTIONS } from './args.js';
import type { Command, OptionTable } from './command.js';

/*
 * Shell completion scripts generated from the command table, so they list exactly the commands,
 * options and choices that help shows. Both scripts find the command among the words typed so far
 * (skipping options), then offer its sub-commands, its options, an option's choices, or files.
 */

interface Entry {
  name: string;
  options: string[];
  /** Options taking a value: choices (possibly empty = free text) or files/dirs. */
  values: Array<{
    flags: string[];
    choices: readonly string[] | undefined;
    complete: 'file' | 'dir' | undefined;
  }>;
  positional: 'file' | 'dir' | undefined;
}

function flagsOf(name: string, short: string | undefined): string[] {
  return short ? [`-${short}`, `--${name}`] : [`--${name}`];
}

function entries(commands: readonly Command[]): Entry[] {
  return commands.map((c) => {
    const all: OptionTable = { ...commandOptions(c), ...GLOBAL_OPTIONS };
    const options = Object.entries(all).flatMap(([n, s]) => flagsOf(n, s.short));
    const values = Object.entries(all)
      .filter(([, s]) => s.type === 'string')
      .map(([n, s]) => ({ flags: flagsOf(n, s.short), choices: s.choices, complete: s.complete }));
    const positional =
      c.args.some((a) => a.complete === 'dir') && !c.args.some((a) => a.complete === 'file')
        ? 'dir'
        : c.args.some((a) => a.complete)
          ? 'file'
          : undefined;
    return { name: c.name, options, values, positional };
  });
}

function topWords(commands: readonly Command[]): string[] {
  return [...new Set(['help', 'completion', ...commands.map((c) => c.name.split(' ')[0]!)])];
}

function families(commands: readonly Command[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const c of commands) {
    const [family, sub] = c.name.split(' ');
    if (sub === undefined) continue;
    map.set(family!, [...(map.get(family!) ?? []), sub]);
  }
  return map;
}

export function bashCompletion(commands: readonly Command[]): string {
  const fams = families(commands);
  const famPattern = [...fams.keys()].join('|') || '__none__';
  const lines = [
    '# bash completion for pd. Load it with: source <(pd completion bash)',
    '_pd() {',
    // bash passes the word being completed and the one before it as $2 and $3.
    '  local cur="$2" prev="$3" cmd="" w i',
    '  for ((i = 1; i < COMP_CWORD; i++)); do',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash array syntax, not a template
    '    w="${COMP_WORDS[i]}"',
    '    [[ "$w" == -* ]] && continue',
    '    if [[ -z "$cmd" ]]; then cmd="$w"',
    `    elif [[ "$cmd" == @(${famPattern}) ]]; then cmd="$cmd $w"; break`,
    '    else break; fi',
    '  done',
    '  COMPREPLY=()',
    '  case "$cmd" in',
    `    ""|help) COMPREPLY=($(compgen -W "${topWords(commands).join(' ')}" -- "$cur")) ;;`,
    '    completion) COMPREPLY=($(compgen -W "bash zsh" -- "$cur")) ;;',
  ];
  for (const [family, subs] of fams) {
    lines.push(`    ${family}) COMPREPLY=($(compgen -W "${subs.join(' ')}" -- "$cur")) ;;`);
  }
  for (const e of entries(commands)) {
    lines.push(`    "${e.name}")`, '      case "$prev" in');
    for (const v of e.values) {
      const action =
        v.complete === 'file'
          ? 'COMPREPLY=($(compgen -f -- "$cur"))'
          : v.complete === 'dir'
            ? 'COMPREPLY=($(compgen -d -- "$cur"))'
            : v.choices
              ? `COMPREPLY=($(compgen -W "${v.choices.join(' ')}" -- "$cur"))`
              : ':';
      lines.push(`        ${v.flags.join('|')}) ${action}; return ;;`);
    }
    const positional =
      e.positional === 'file'
        ? 'COMPREPLY=($(compgen -f -- "$cur"))'
        : e.positional === 'dir'
          ? 'COMPREPLY=($(compgen -d -- "$cur"))'
          : ':';
    lines.push(
      '      esac',
      `      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${e.options.join(' ')}" -- "$cur")); else ${positional}; fi`,
      '      ;;',
    );
  }
  lines.push('  esac', '}', 'complete -o filenames -F _pd pd', '');
  return lines.join('\n');
}

export function zshCompletion(commands: readonly Command[]): string {
  const fams = families(commands);
  const famPattern = [...fams.keys()].join('|') || '__none__';
  const lines = [
    '#compdef pd',
    '# zsh completion for pd. Load it with: source <(pd completion zsh)  (after compinit)',
    '_pd() {',
    '  local cur=$words[CURRENT] prev=$words[CURRENT-1] cmd="" w i',
    '  for ((i = 2; i < CURRENT; i++)); do',
    '    w=$words[i]',
    '    [[ $w == -* ]] && continue',
    '    if [[ -z $cmd ]]; then cmd=$w',
    `    elif [[ $cmd == (${famPattern}) ]]; then cmd="$cmd $w"; break`,
    '    else break; fi',
    '  done',
    '  case $cmd in',
    `    ""|help) compadd -- ${topWords(commands).join(' ')} ;;`,
    '    completion) compadd -- bash zsh ;;',
  ];
  for (const [family, subs] of fams) lines.push(`    ${family}) compadd -- ${subs.join(' ')} ;;`);
  for (const e of entries(commands)) {
    lines.push(`    "${e.name}")`, '      case $prev in');
    for (const v of e.values) {
      const action =
        v.complete === 'file'
          ? '_files'
          : v.complete === 'dir'
            ? '_directories'
            : v.choices
              ? `compadd -- ${v.choices.join(' ')}`
              : ':';
      lines.push(`        ${v.flags.join('|')}) ${action}; return ;;`);
    }
    const positional = e.positional === 'file' ? '_files' : e.positional === 'dir' ? '_directories' : ':';
    lines.push(
      '      esac',
      `      if [[ $cur == -* ]]; then compadd -- ${e.options.join(' ')}; else ${positional}; fi`,
      '      ;;',
    );
  }
  lines.push('  esac', '}', 'if [[ $funcstack[1] == _pd ]]; then _pd "$@"; else compdef _pd pd; fi', '');
  return lines.join('\n');
}
