import type { Command } from '../command.js';
import { append } from './append.js';
import { blob } from './blob.js';
import { build } from './build.js';
import { cacheLs, cachePrune } from './cache.js';
import { catalog } from './catalog.js';
import { completion } from './completion.js';
import { condaBuild } from './conda-build.js';
import { copy } from './copy.js';
import { deleteCommand } from './delete.js';
import { digest } from './digest.js';
import { exportCommand } from './export.js';
import { flattenCommand } from './flatten.js';
import { inspect } from './inspect.js';
import { layerCreate } from './layer-create.js';
import { layerExtract } from './layer-extract.js';
import { layerLs } from './layer-ls.js';
import { login } from './login.js';
import { logout } from './logout.js';
import { manifest } from './manifest.js';
import { mutate } from './mutate.js';
import { pull } from './pull.js';
import { pushCommand } from './push.js';
import { rebaseCommand } from './rebase.js';
import { run } from './run.js';
import { tags } from './tags.js';
import { version } from './version.js';

export interface CommandGroup {
  title: string;
  commands: Command[];
}

/** Every command, grouped as `pd --help` lists them. Help and completion are generated from this. */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  {
    title: 'Images',
    commands: [
      pull,
      pushCommand,
      copy,
      append,
      mutate,
      inspect,
      exportCommand,
      flattenCommand,
      rebaseCommand,
    ],
  },
  { title: 'Registry', commands: [digest, manifest, blob, tags, catalog, deleteCommand, login, logout] },
  { title: 'Layers', commands: [layerCreate, layerExtract, layerLs] },
  { title: 'Building', commands: [build, condaBuild] },
  { title: 'Running', commands: [run, cacheLs, cachePrune] },
  { title: 'Other', commands: [version, completion] },
];

export const COMMANDS: ReadonlyMap<string, Command> = new Map(
  COMMAND_GROUPS.flatMap((g) => g.commands).map((c) => [c.name, c]),
);

/** First words of two-word commands: `layer`, `cache`, `conda`. */
export function commandFamilies(): Set<string> {
  return new Set([...COMMANDS.keys()].filter((n) => n.includes(' ')).map((n) => n.split(' ')[0]!));
}
