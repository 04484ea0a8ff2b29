import type { Command, DefinedCommand } from '../command.js';

// Commands are loaded when used: each one pulls in only the packages it needs, so `pd run` or
// `pd version` never pays for the conda solver or the registry client. Their one-line summaries
// live here, not in the modules, so `pd --help` lists every command without loading any (loading
// them all took 0.4 s). Completion, which needs every command's options, loads them all.

/** A command known by name and summary, its module loaded on demand. */
export interface CommandEntry {
  name: string;
  /** One line for `pd --help` and the first line of `pd help NAME`. */
  summary: string;
  load(): Promise<Command>;
}

export interface CommandGroup {
  title: string;
  commands: readonly CommandEntry[];
}

const entry = (name: string, summary: string, load: () => Promise<DefinedCommand>): CommandEntry => ({
  name,
  summary,
  load: async () => ({ ...(await load()), summary }),
});

/** Every command, grouped as `pd --help` lists them. Help and completion are generated from this. */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  {
    title: 'Images',
    commands: [
      entry(
        'pull',
        'download an image into a file or an OCI layout directory',
        async () => (await import('./pull.js')).pull,
      ),
      entry(
        'push',
        'upload an image from a file or an OCI layout to a registry',
        async () => (await import('./push.js')).pushCommand,
      ),
      entry(
        'copy',
        'copy an image from one registry or repository to another',
        async () => (await import('./copy.js')).copy,
      ),
      entry(
        'sync',
        'mirror repositories: registry to registry, into a directory of layouts, and back',
        async () => (await import('./sync.js')).syncCommand,
      ),
      entry(
        'append',
        'add layers (files, directories, tarballs) and config to an image',
        async () => (await import('./append.js')).append,
      ),
      entry(
        'mutate',
        'change the config of an image (env, entrypoint, cmd, user, labels…), no new layer',
        async () => (await import('./mutate.js')).mutate,
      ),
      entry(
        'inspect',
        'describe an image, index or artifact: digests, platform, config, layers (JSON)',
        async () => (await import('./inspect.js')).inspect,
      ),
      entry(
        'sbom',
        'list the packages inside an image as an SPDX or CycloneDX SBOM, without running it',
        async () => (await import('./sbom.js')).sbomCommand,
      ),
      entry(
        'artifact push',
        'push files as an OCI artifact (ORAS-compatible)',
        async () => (await import('./artifact-push.js')).artifactPush,
      ),
      entry(
        'artifact pull',
        'write the files of an OCI artifact to a directory (ORAS-compatible)',
        async () => (await import('./artifact-pull.js')).artifactPull,
      ),
      entry(
        'attach',
        'attach files to an image as a referrer (an SBOM, signature, attestation)',
        async () => (await import('./attach.js')).attachCommand,
      ),
      entry(
        'referrers',
        'list the artifacts that refer to an image (SBOMs, signatures, attestations)',
        async () => (await import('./referrers.js')).referrersCommand,
      ),
      entry(
        'export',
        'write the root filesystem of an image, as a tar or into a directory',
        async () => (await import('./export.js')).exportCommand,
      ),
      entry(
        'flatten',
        'squash all layers of an image into one',
        async () => (await import('./flatten.js')).flattenCommand,
      ),
      entry(
        'rebase',
        'move an image onto a new base (e.g. a patched OS image)',
        async () => (await import('./rebase.js')).rebaseCommand,
      ),
    ],
  },
  {
    title: 'Multi-platform indexes',
    commands: [
      entry(
        'index create',
        'make a multi-platform index from images',
        async () => (await import('./index-edit.js')).indexCreate,
      ),
      entry('index add', 'add images to an index', async () => (await import('./index-edit.js')).indexAdd),
      entry(
        'index remove',
        'remove entries from an index, by platform or digest',
        async () => (await import('./index-edit.js')).indexRemove,
      ),
      entry(
        'index annotate',
        'set annotations (or the platform) of an index or of its entries',
        async () => (await import('./index-edit.js')).indexAnnotate,
      ),
    ],
  },
  {
    title: 'Registry',
    commands: [
      entry(
        'digest',
        'print the digest of an image (what skopeo inspect calls Digest)',
        async () => (await import('./digest.js')).digest,
      ),
      entry(
        'manifest',
        'print the manifest of an image or index, byte for byte',
        async () => (await import('./manifest.js')).manifest,
      ),
      entry(
        'blob',
        'download a blob (layer, config) by digest, verified',
        async () => (await import('./blob.js')).blob,
      ),
      entry('tags', 'list the tags of a repository', async () => (await import('./tags.js')).tags),
      entry(
        'catalog',
        'list the repositories of a registry',
        async () => (await import('./catalog.js')).catalog,
      ),
      entry(
        'delete',
        'delete a manifest (an image or an index) from a registry',
        async () => (await import('./delete.js')).deleteCommand,
      ),
      entry(
        'login',
        'check credentials against a registry and store them for later commands',
        async () => (await import('./login.js')).login,
      ),
      entry(
        'logout',
        'remove the stored credentials of a registry',
        async () => (await import('./logout.js')).logout,
      ),
    ],
  },
  {
    title: 'Layers',
    commands: [
      entry(
        'layer create',
        'make a reproducible layer from a directory',
        async () => (await import('./layer-create.js')).layerCreate,
      ),
      entry(
        'layer extract',
        'unpack a layer into a directory, safely',
        async () => (await import('./layer-extract.js')).layerExtract,
      ),
      entry(
        'layer ls',
        'list the entries of a layer, like tar -tv',
        async () => (await import('./layer-ls.js')).layerLs,
      ),
    ],
  },
  {
    title: 'Building',
    commands: [
      entry(
        'build',
        'build an image (or a multi-platform index) from a pd.yaml (base, files, layers, conda, run: steps, config)',
        async () => (await import('./build.js')).build,
      ),
      entry(
        'conda build',
        'put a conda environment into an image, without conda',
        async () => (await import('./conda-build.js')).condaBuild,
      ),
    ],
  },
  {
    title: 'Running',
    commands: [
      entry(
        'run',
        'run a command in an image, without a Docker daemon (runc or crun), or through docker',
        async () => (await import('./run.js')).run,
      ),
      entry(
        'ps',
        'list containers (running ones; -a for all)',
        async () => (await import('./containers.js')).ps,
      ),
      entry(
        'logs',
        'print the output of a detached container (-f: follow it until it exits)',
        async () => (await import('./containers.js')).logs,
      ),
      entry(
        'exec',
        'run a command in a running container',
        async () => (await import('./containers.js')).exec,
      ),
      entry(
        'stop',
        'stop containers: SIGTERM, then SIGKILL after a timeout',
        async () => (await import('./containers.js')).stop,
      ),
      entry(
        'kill',
        'send a signal to running containers (default SIGKILL)',
        async () => (await import('./containers.js')).kill,
      ),
      entry(
        'rm',
        'remove containers (-f: kill running ones first)',
        async () => (await import('./containers.js')).rm,
      ),
      entry(
        'wait',
        'wait until containers exit, and print their exit codes',
        async () => (await import('./containers.js')).wait,
      ),
      entry(
        'commit',
        "make a container's changes a new image (its image plus one layer)",
        async () => (await import('./commit.js')).commitCommand,
      ),
      entry(
        'cache ls',
        'list what pd keeps in its cache: blobs, unpacked layers, containers',
        async () => (await import('./cache.js')).cacheLs,
      ),
      entry(
        'cache prune',
        'free cache space: blobs, unpacked layers no container uses, exited containers',
        async () => (await import('./cache.js')).cachePrune,
      ),
    ],
  },
  {
    title: 'Other',
    commands: [
      entry('version', 'print the version of pd', async () => (await import('./version.js')).version),
      entry(
        'completion',
        'print a shell completion script (bash or zsh)',
        async () => (await import('./completion.js')).completion,
      ),
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
