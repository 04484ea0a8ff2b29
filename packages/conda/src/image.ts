import type { Image } from '@pd/image';
import { appendLayers, editConfig } from '@pd/image';
import { sourceDateEpoch } from '@pd/tar';
import { resolveChannels } from './channels.js';
import { readEnvironmentYml } from './environment-yml.js';
import { readExplicitLockfile } from './explicit-lockfile.js';
import {
  type CondaEnvironment,
  type CondaLayerOptions,
  type CondaLayersResult,
  condaLayers,
} from './layers.js';
import { type Solution, type SolveOptions, solve } from './solve.js';

/** What environment to build: specs to solve, an environment.yml, an explicit lockfile, or a solution. */
export type CondaEnvironmentInput =
  | { specs: string[]; channels?: string[] }
  | { environmentYml: string }
  | { lockfile: string }
  | CondaEnvironment;

/**
 * Options of {@link buildCondaImage}: those of {@link condaLayers} and of {@link solve} (channels come
 * from the environment input), and the config's time.
 */
export interface CondaImageOptions extends CondaLayerOptions, Omit<SolveOptions, 'channels'> {
  /** Config `created` and history times, in seconds (default SOURCE_DATE_EPOCH, else 0). */
  created?: number;
}

/** What a build did, beside the image. */
export interface CondaBuildReport extends Omit<CondaLayersResult, 'layers'> {
  environment: CondaEnvironment;
  /** environment.yml `variables`, set in the image env. */
  variables: Record<string, string>;
}

/** An image built by {@link buildCondaImage}, with the report of the build. */
export type CondaImage = Image & { readonly conda: CondaBuildReport };

/**
 * The environment an input names: specs solved, an environment.yml read and solved, a lockfile
 * read, or a solution taken as it is.
 */
export async function resolveEnvironment(
  input: CondaEnvironmentInput,
  options: CondaImageOptions = {},
): Promise<{ environment: CondaEnvironment; variables: Record<string, string> }> {
  const platform = options.platform ?? 'linux-64';
  if ('packages' in input) return { environment: input, variables: {} };
  if ('lockfile' in input) {
    const packages = await readExplicitLockfile(input.lockfile);
    const channels = resolveChannels([...new Set(packages.map((p) => p.channel))], options);
    return { environment: { specs: [], channels, platform, packages, ordered: true }, variables: {} };
  }
  let specs: string[];
  let channels: string[] | undefined;
  let variables: Record<string, string> = {};
  if ('environmentYml' in input) {
    const yml = await readEnvironmentYml(input.environmentYml);
    specs = yml.dependencies;
    channels = yml.channels.length ? yml.channels : undefined;
    variables = yml.variables;
  } else {
    specs = input.specs;
    channels = input.channels;
  }
  const solution: Solution = await solve(specs, { ...options, ...(channels ? { channels } : {}) });
  return { environment: solution, variables };
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * `base` plus a conda environment under `prefix` (default `/opt/conda`): solved (or read), fetched,
 * extracted and linked without conda, one layer per package by default. The config gets `PATH`
 * with `<prefix>/bin` first, `CONDA_PREFIX`, environment.yml variables and `org.pd.conda.*` labels.
 */
export async function buildCondaImage(
  base: Image,
  input: CondaEnvironmentInput,
  options: CondaImageOptions = {},
): Promise<CondaImage> {
  const prefix = (options.prefix ?? '/opt/conda').replace(/\/+$/, '') || '/opt/conda';
  const { environment, variables } = await resolveEnvironment(input, options);
  const built = await condaLayers(environment, { ...options, prefix });
  const created = options.created ?? sourceDateEpoch() ?? 0;
  const withLayers = await appendLayers(
    base,
    built.layers.map((l) => ({ layer: l.layer, history: l.history })),
    { created },
  );
  const baseEnv = (await base.config()).config?.Env ?? [];
  const basePath = baseEnv.find((e) => e.startsWith('PATH='))?.slice(5) || DEFAULT_PATH;
  const path = [`${prefix}/bin`, ...basePath.split(':').filter((p) => p && p !== `${prefix}/bin`)].join(':');
  const image = await editConfig(withLayers, {
    env: { ...variables, PATH: path, CONDA_PREFIX: prefix },
    labels: {
      'org.pd.conda.specs': environment.specs.join(', '),
      'org.pd.conda.channels': environment.channels.map((c) => c.url).join(', '),
      'org.pd.conda.platform': environment.platform,
      'org.pd.conda.prefix': prefix,
      'org.pd.conda.packages': String(built.packages.length),
    },
    created,
  });
  const report: CondaBuildReport = {
    packages: built.packages,
    warnings: built.warnings,
    stats: built.stats,
    environment,
    variables,
  };
  return Object.assign(image, { conda: report });
}
