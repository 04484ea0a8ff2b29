import type { ConfigEdits } from '@pd/image';
import type { OptionSpec } from '../command.js';
import { UsageError } from '../output/errors.js';
import { parseKeyValue } from './shared.js';

/** The container config options of append and mutate. */
export const CONFIG_OPTIONS = {
  env: {
    type: 'string',
    short: 'e',
    multiple: true,
    value: 'K=V',
    description: 'set an environment variable',
  },
  'unset-env': { type: 'string', multiple: true, value: 'K', description: 'remove an environment variable' },
  entrypoint: {
    type: 'string',
    value: 'CMD',
    description: 'entrypoint: a JSON array (\'["/app","--serve"]\') or words split on spaces; "" clears it',
  },
  cmd: {
    type: 'string',
    value: 'CMD',
    description: 'default arguments, written like --entrypoint; "" clears them',
  },
  workdir: { type: 'string', short: 'w', value: 'DIR', description: 'working directory' },
  user: {
    type: 'string',
    short: 'u',
    value: 'USER[:GROUP]',
    description: 'user (name or uid) the container runs as',
  },
  label: { type: 'string', short: 'l', multiple: true, value: 'K=V', description: 'set a label' },
  expose: {
    type: 'string',
    multiple: true,
    value: 'PORT[/PROTO]',
    description: 'declare an exposed port (8080, 53/udp)',
  },
} as const satisfies Record<string, OptionSpec>;

export interface ConfigValues {
  env: string[];
  'unset-env': string[];
  entrypoint?: string | undefined;
  cmd?: string | undefined;
  workdir?: string | undefined;
  user?: string | undefined;
  label: string[];
  expose: string[];
}

/** `["a","b"]` as JSON, or words split on whitespace; empty clears. */
export function parseCommand(option: string, input: string): string[] | null {
  const s = input.trim();
  if (s === '') return null;
  if (s.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch {
      throw new UsageError(
        `${option} is not a valid JSON array`,
        'write it like \'["/bin/sh","-c","echo hi"]\'',
      );
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
      throw new UsageError(`${option} must be a JSON array of strings`);
    }
    return parsed as string[];
  }
  return s.split(/\s+/);
}

/** The edits the options ask for; undefined when there are none. */
export function configEdits(v: ConfigValues): ConfigEdits | undefined {
  const edits: ConfigEdits = {};
  let any = false;
  if (v.env.length > 0) {
    edits.env = Object.fromEntries(v.env.map((e) => parseKeyValue('--env', e)));
    any = true;
  }
  if (v['unset-env'].length > 0) {
    edits.unsetEnv = v['unset-env'];
    any = true;
  }
  if (v.entrypoint !== undefined) {
    edits.entrypoint = parseCommand('--entrypoint', v.entrypoint);
    any = true;
  }
  if (v.cmd !== undefined) {
    edits.cmd = parseCommand('--cmd', v.cmd);
    any = true;
  }
  if (v.workdir !== undefined) {
    edits.workingDir = v.workdir === '' ? null : v.workdir;
    any = true;
  }
  if (v.user !== undefined) {
    edits.user = v.user === '' ? null : v.user;
    any = true;
  }
  if (v.label.length > 0) {
    edits.labels = Object.fromEntries(v.label.map((l) => parseKeyValue('--label', l)));
    any = true;
  }
  if (v.expose.length > 0) {
    edits.exposedPorts = v.expose;
    any = true;
  }
  return any ? edits : undefined;
}
