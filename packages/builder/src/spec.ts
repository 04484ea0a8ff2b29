import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Check,
  formatPlatform,
  type Infer,
  normalizePlatform,
  parsePlatform,
  v,
  validateWith,
} from '@pd/oci-types';
import { parse } from 'yaml';
import { describeFsError, SpecFileError } from './errors.js';

const WHAT = 'pd.yaml';

// Every object of pd.yaml is strict: a field the shape does not know is a typo, named in the error.
const strict = v.strictObject;

const absolutePath = v.pattern(/^\//, 'an absolute path in the image, e.g. /app');

/** A file mode: a number (YAML reads 0o755 or 493) or an octal string such as "0755". */
const fileMode: Check<number | string> = (value, path, what) => {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0o7777) return value;
  if (typeof value === 'string' && /^0?[0-7]{3,4}$/.test(value)) return value;
  return v.fail(what, path, `expected a file mode such as "0755", got ${v.describeValue(value)}`);
};

const stringOrList: Check<string | string[]> = (value, path, what) =>
  typeof value === 'string' ? value : v.arrayOf(v.string)(value, path, what);

const port: Check<number | string> = (value, path, what) => {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 65536) return value;
  if (typeof value === 'string' && /^\d{1,5}(\/(tcp|udp|sctp))?$/.test(value)) return value;
  return v.fail(what, path, `expected a port such as 8080 or "53/udp", got ${v.describeValue(value)}`);
};

const scalarMap: Check<Record<string, string | number | boolean>> = v.mapOf((value, path, what) => {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return v.fail(what, path, `expected a string, got ${v.describeValue(value)}`);
});

const layerShape = {
  src: v.required(v.nonEmptyString),
  dest: v.optional(absolutePath),
  exclude: v.optional(v.arrayOf(v.nonEmptyString)),
};

const fileShape = {
  path: v.required(absolutePath),
  content: v.required(v.string),
  mode: v.optional(fileMode),
};

const condaShape = {
  specs: v.optional(v.arrayOf(v.nonEmptyString, { minItems: 1 })),
  environment: v.optional(v.nonEmptyString),
  lockfile: v.optional(v.nonEmptyString),
  channels: v.optional(v.arrayOf(v.nonEmptyString)),
  channelAlias: v.optional(v.url),
  platform: v.optional(v.nonEmptyString),
  layering: v.optional(v.oneOf(['layered', 'single'])),
  prefix: v.optional(absolutePath),
  exclude: v.optional(v.arrayOf(v.nonEmptyString)),
};

const condaCheck = v.objectWhere(condaShape, (c, path) => {
  const sources = ['specs', 'environment', 'lockfile'].filter((k) => c[k as keyof typeof c] !== undefined);
  if (sources.length === 1) {
    if (c.channels && !c.specs) {
      return {
        path: v.childPath(path, 'channels'),
        problem: `applies to specs only; ${sources[0]} names its own channels`,
      };
    }
    return undefined;
  }
  return {
    path,
    problem:
      sources.length === 0
        ? 'needs one of specs, environment or lockfile'
        : `give only one of specs, environment or lockfile (got ${sources.join(' and ')})`,
  };
});

const configShape = {
  env: v.optional(scalarMap),
  entrypoint: v.optional(stringOrList),
  cmd: v.optional(stringOrList),
  workdir: v.optional(absolutePath),
  user: v.optional(v.nonEmptyString),
  labels: v.optional(scalarMap),
  ports: v.optional(v.arrayOf(port)),
  volumes: v.optional(v.arrayOf(absolutePath)),
  stopSignal: v.optional(v.pattern(/^(SIG[A-Z0-9+-]+|\d+)$/, 'a signal such as SIGTERM')),
};

const platformString = v.pattern(/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/, 'a platform such as linux/amd64');

/** Each platform once: two spellings of one platform would build the same child twice. */
const platformList: Check<string[]> = (value, path, what) => {
  const list = v.arrayOf(platformString, { minItems: 1 })(value, path, what);
  const seen = new Map<string, number>();
  for (const [i, p] of list.entries()) {
    let key: string;
    try {
      key = formatPlatform(normalizePlatform(parsePlatform(p)));
    } catch (e) {
      return v.fail(what, v.childPath(path, i), (e as Error).message);
    }
    const first = seen.get(key);
    if (first !== undefined) {
      v.fail(what, v.childPath(path, i), `${p} is the same platform as ${v.childPath(path, first)}`);
    }
    seen.set(key, i);
  }
  return list;
};

const stepShape = {
  run: v.required(stringOrList),
  env: v.optional(scalarMap),
  workdir: v.optional(absolutePath),
  user: v.optional(v.nonEmptyString),
  network: v.optional(v.oneOf(['none', 'host'])),
  inputs: v.optional(v.arrayOf(v.nonEmptyString)),
};

/** A `run:` step: a string (shell form), a list (exec form), or `{ run, env, workdir, user, network, inputs }`. */
const stepCheck: Check<string | string[] | Infer<typeof stepShape>> = (value, path, what) =>
  typeof value === 'string' || Array.isArray(value)
    ? stringOrList(value, path, what)
    : strict(stepShape)(value, path, what);

/** What one platform adds to the shared spec (see `overrides` in the README). */
const overrideShape = {
  layers: v.optional(v.arrayOf(strict(layerShape))),
  files: v.optional(v.arrayOf(strict(fileShape))),
  config: v.optional(strict(configShape)),
};

const specShape = {
  base: v.optional(v.nonEmptyString),
  platform: v.optional(platformString),
  platforms: v.optional(platformList),
  overrides: v.optional(v.mapOf(strict(overrideShape))),
  name: v.optional(v.pattern(/^[a-z0-9]+([._/-][a-z0-9]+)*$/, 'a repository name such as team/app')),
  tag: v.optional(v.pattern(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'a tag such as latest or 1.2.3')),
  layers: v.optional(v.arrayOf(strict(layerShape))),
  files: v.optional(v.arrayOf(strict(fileShape))),
  conda: v.optional((value: unknown, path: string, what: string) => {
    strict(condaShape)(value, path, what);
    return condaCheck(value, path, what);
  }),
  run: v.optional(v.arrayOf(stepCheck)),
  config: v.optional(strict(configShape)),
};

/** An entry of pd.yaml's `layers`: a file or directory (`src`) packed as one layer at `dest`. */
export type LayerSpec = Infer<typeof layerShape>;
/** An entry of pd.yaml's `files`: a file given inline (`path`, `content`, `mode`). */
export type FileSpec = Infer<typeof fileShape>;
/** pd.yaml's `conda` section: the environment (specs, environment.yml or lockfile) and how it is laid out. */
export type CondaSpec = Infer<typeof condaShape>;
/** pd.yaml's `config` section: the edits made to the image config. */
export type ConfigSpec = Infer<typeof configShape>;
/** What one platform of `platforms` adds to the shared spec: its own layers, files and config edits. */
export type OverrideSpec = Infer<typeof overrideShape>;
/** An entry of pd.yaml's `run`: a command run in the image built so far, its changes one layer. */
export type StepSpec = string | string[] | Infer<typeof stepShape>;
/** A validated pd.yaml. */
export type PdSpec = Infer<typeof specShape>;

/** Fields that depend on each other: `platform` or `platforms`, overrides of listed platforms only. */
const specCheck: Check<PdSpec> = (value, path, what) => {
  const spec = strict(specShape)(value, path, what);
  if (spec.platform !== undefined && spec.platforms !== undefined) {
    v.fail(
      what,
      v.childPath(path, 'platforms'),
      'give platform (one image) or platforms (an index), not both',
    );
  }
  if (spec.platforms !== undefined && spec.conda?.platform !== undefined) {
    v.fail(
      what,
      v.childPath(v.childPath(path, 'conda'), 'platform'),
      'with platforms, each platform gets its own conda subdir (linux/amd64 -> linux-64...); drop conda.platform',
    );
  }
  for (const key of Object.keys(spec.overrides ?? {})) {
    if (spec.platforms?.includes(key)) continue;
    v.fail(
      what,
      v.childPath(v.childPath(path, 'overrides'), key),
      spec.platforms
        ? `not one of platforms (${spec.platforms.join(', ')})`
        : 'overrides apply to the platforms listed in platforms, and there is no platforms list',
    );
  }
  return spec;
};

/** Check a parsed pd.yaml; throws oci-types' `ValidationError` naming the field (`$.config.ports[1]`). */
export function validateSpec(value: unknown): PdSpec {
  return validateWith(specCheck, value, WHAT);
}

const SPEC_NAME = 'pd.yaml';

/**
 * The pd.yaml that `path` means: the file itself, or `pd.yaml` inside a directory (as docker build
 * reads DIR/Dockerfile). Throws {@link SpecFileError} saying what is missing.
 */
export async function resolveSpecFile(path: string): Promise<string> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (e) {
    throw new SpecFileError(
      path,
      describeFsError(e),
      e,
      'give the path of a pd.yaml, or of a directory that holds one',
    );
  }
  if (!info.isDirectory()) return path;
  const inside = join(path, SPEC_NAME);
  try {
    await stat(inside);
  } catch (e) {
    const where = path === '.' ? 'the current directory' : path;
    throw new SpecFileError(
      inside,
      describeFsError(e),
      e,
      `${where} holds no ${SPEC_NAME}: write one, as in @pd/build's README, or give its path`,
    );
  }
  return inside;
}

/** Read, parse and validate a pd.yaml file (or the pd.yaml in a directory). */
export async function loadSpec(path: string): Promise<PdSpec> {
  const file = await resolveSpecFile(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new SpecFileError(file, describeFsError(e), e, 'check that the file is readable');
  }
  return parseSpec(text, file);
}

/** Parse and validate pd.yaml text. */
export function parseSpec(text: string, file = 'pd.yaml'): PdSpec {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new SpecFileError(file, `not valid YAML (${(e as Error).message.split('\n')[0]})`, e);
  }
  return validateSpec(doc ?? {});
}

/** `name:tag` of a spec (default tag `latest`), or undefined without a name. */
export function specReference(spec: PdSpec): string | undefined {
  return spec.name ? `${spec.name}:${spec.tag ?? 'latest'}` : undefined;
}
