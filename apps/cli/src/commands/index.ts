import type { Command } from '../command.js';

// Commands are loaded when used: each one pulls in only the packages it needs, so `pd run` or
// `pd version` never pays for the conda solver or the registry client. Help and completion,
// which need every command's options, load them all.

/** A command known by name, its module loaded on demand. */
export interface CommandEntry {
  name: string;
  load(): Promise<Command>;
}

export interface CommandGroup {
  title: string;
  commands: readonly CommandEntry[];
}

const entry = (name: string, load: () => Promise<Command>): CommandEntry => ({ name, load });

/** Every command, grouped as `pd --help` lists them. Help and completion are generated from this. */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  {
    title: 'Images',
    commands: [
      entry('pull', async () => (await import('./pull.js')).pull),
      entry('push', async () => (await import('./push.js')).pushCommand),
      entry('copy', async () => (await import('./copy.js')).copy),
      entry('sync', async () => (await import('./sync.js')).syncCommand),
      entry('append', async () => (await import('./append.js')).append),
      entry('mutate', async () => (await import('./mutate.js')).mutate),
      entry('inspect', async () => (await import('./inspect.js')).inspect),
      entry('sbom', async () => (await import('./sbom.js')).sbomCommand),
      entry('artifact push', async () => (await import('./artifact-push.js')).artifactPush),
      entry('artifact pull', async () => (await import('./artifact-pull.js')).artifactPull),
      entry('attach', async () => (await import('./attach.js')).attachCommand),
      entry('referrers', async () => (await import('./referrers.js')).referrersCommand),
      entry('export', async () => (await import('./export.js')).exportCommand),
      entry('flatten', async () => (await import('./flatten.js')).flattenCommand),
      entry('rebase', async () => (await import('./rebase.js')).rebaseCommand),
    ],
  },
  {
    title: 'Multi-platform indexes',
    commands: [
      entry('index create', async () => (await import('./index-edit.js')).indexCreate),
      entry('index add', async () => (await import('./index-edit.js')).indexAdd),
      entry('index remove', async () => (await import('./index-edit.js')).indexRemove),
      entry('index annotate', async () => (await import('./index-edit.js')).indexAnnotate),
    ],
  },
  {
    title: 'Registry',
    commands: [
      entry('digest', async () => (await import('./digest.js')).digest),
      entry('manifest', async () => (await import('./manifest.js')).manifest),
      entry('blob', async () => (await import('./blob.js')).blob),
      entry('tags', async () => (await import('./tags.js')).tags),
      entry('catalog', async () => (await import('./catalog.js')).catalog),
      entry('delete', async () => (await import('./delete.js')).deleteCommand),
      entry('login', async () => (await import('./login.js')).login),
      entry('logout', async () => (await import('./logout.js')).logout),
    ],
  },
  {
    title: 'Layers',
    commands: [
      entry('layer create', async () => (await import('./layer-create.js')).layerCreate),
      entry('layer extract', async () => (await import('./layer-extract.js')).layerExtract),
      entry('layer ls', async () => (await import('./layer-ls.js')).layerLs),
    ],
  },
  {
    title: 'Building',
    commands: [
      entry('build', async () => (await import('./build.js')).build),
      entry('conda build', async () => (await import('./conda-build.js')).condaBuild),
    ],
  },
  {
    title: 'Running',
    commands: [
      entry('run', async () => (await import('./run.js')).run),
      entry('ps', async () => (await import('./containers.js')).ps),
      entry('logs', async () => (await import('./containers.js')).logs),
      entry('exec', async () => (await import('./containers.js')).exec),
      entry('stop', async () => (await import('./containers.js')).stop),
      entry('kill', async () => (await import('./containers.js')).kill),
      entry('rm', async () => (await import('./containers.js')).rm),
      entry('wait', async () => (await import('./containers.js')).wait),
      entry('commit', async () => (await import('./commit.js')).commitCommand),
      entry('cache ls', async () => (await import('./cache.js')).cacheLs),
      entry('cache prune', async () => (await import('./cache.js')).cachePrune),
    ],
  },
  {
    title: 'Other',
    commands: [
      entry('version', async () => (await import('./version.js')).version),
      entry('completion', async () => (await import('./completion.js')).completion),
    ],
  },
];

export const COMMANDS: ReadonlyMap<string, CommandEntry> = new Map(
  COMMAND_GROUPS.flatMap((g) => g.commands).map((c) => [c.name, c]),
);

/** Load every command (for help and completion). */
export async function loadAll(): Promise<Array<{ title: string; commands: Command[] }>> {
  return Promise.all(
    COMMAND_GROUPS.map(async (g) => ({
      title: g.title,
      commands: await Promise.all(g.commands.map((c) => c.load())),
    })),
  );
}

/** First words of two-word commands: `layer`, `cache`, `conda`, `index`. */
export function commandFamilies(): Set<string> {
  return new Set([...COMMANDS.keys()].filter((n) => n.includes(' ')).map((n) => n.split(' ')[0]!));
}
