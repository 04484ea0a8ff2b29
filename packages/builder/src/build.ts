import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
// Types only: erased from the JavaScript, and absent from the .d.ts (none is part of the API).
import type { CondaEnvironmentInput, CondaImageOptions } from '@pd/conda';
import {
  type Addendum,
  appendLayers,
  type BlobCache,
  type ConfigEdits,
  editConfig,
  type Image,
  type ImageIndex,
  imageForPlatform,
  imagePlatform,
  layerFromContents,
  layerFromPaths,
  newIndex,
  type OpenImageOptions,
  openImage,
  scratch,
} from '@pd/image';
import {
  type Compression,
  formatPlatform,
  isIndexMediaType,
  normalizePlatform,
  PdError,
  type Platform,
  PlatformNotFoundError,
  parsePlatform,
  v,
} from '@pd/oci-types';
import type { BuildStep } from '@pd/runner';
import type { ContentEntry, ProgressEvent } from '@pd/tar';
import { globMatcher, sourceDateEpoch, type TarFilter } from '@pd/tar';
import {
  BaseNotIndexError,
  BasePlatformError,
  describeFsError,
  SpecInputError,
  SpecPlatformsError,
} from './errors.js';
import type { CondaSpec, ConfigSpec, FileSpec, LayerSpec, OverrideSpec, PdSpec, StepSpec } from './spec.js';

/** Options of {@link buildImage}, and of {@link buildIndex} and {@link buildSpec}. */
export interface BuildOptions {
  /**
   * The platform of the image {@link buildImage} builds, in place of the pd.yaml's `platform`
   * (or one of its `platforms`, whose override then applies). Default: the pd.yaml's, else linux/amd64.
   */
  platform?: Platform | string;
  /** Directory that relative paths in the spec are resolved against (the pd.yaml's directory). Default cwd. */
  baseDir?: string;
  /** Compression of every layer built (conda layers too). Default gzip. */
  compression?: Compression;
  /** Blob cache for built layers, conda layers too (default @pd/image's shared cache). */
  cache?: BlobCache;
  /** Registry client for a `base:` given by reference (default @pd/image's shared one). */
  client?: OpenImageOptions['client'];
  /** Conda cache root (default `<pd cache>/conda`). */
  condaCacheDir?: string;
  /** Progress of the layers being built (and of conda downloads). */
  onProgress?: (e: ProgressEvent) => void;
  /** Warnings (conda package scripts not run...). */
  onLog?: (message: string) => void;
  /** Told of each `run:` step once done: which, and whether the step cache had it. */
  onStep?: (step: { index: number; of: number; run: string | string[]; cached: boolean }) => void;
  /** Where `run:` steps' output goes (default: discarded). */
  stepOutput?: Writable;
  /** pd's cache for `run:` steps: the layer store and the step cache (default @pd/runner's). */
  cacheDir?: string;
  signal?: AbortSignal;
}

/** Options of {@link buildIndex} and {@link buildSpec}. */
export interface BuildIndexOptions extends Omit<BuildOptions, 'platform'> {
  /**
   * The platforms of the index, in order, in place of the pd.yaml's `platforms` (or `platform`);
   * `'all'` means every platform of the base index, in its order. Overrides apply to the
   * platforms they name.
   */
  platforms?: readonly (Platform | string)[] | 'all';
}

const CONDA_SUBDIRS: Record<string, string> = {
  amd64: 'linux-64',
  arm64: 'linux-aarch64',
  ppc64le: 'linux-ppc64le',
  s390x: 'linux-s390x',
};

/** Seconds for every time in the image: SOURCE_DATE_EPOCH, else 0, so the same inputs give the same digest. */
function buildEpoch(): number {
  return sourceDateEpoch() ?? 0;
}

/** Drop entries whose path below the layer's destination matches an exclude glob. */
function excludeFilter(layer: LayerSpec): TarFilter | undefined {
  if (!layer.exclude?.length) return undefined;
  const matches = globMatcher(layer.exclude);
  const base = (layer.dest ?? '/').replace(/^\/+|\/+$/g, '');
  return (header) => {
    let name = header.name.replace(/\/+$/, '');
    if (base) {
      if (name === base) return true;
      if (!name.startsWith(`${base}/`)) return true;
      name = name.slice(base.length + 1);
    }
    return !matches(name);
  };
}

function fileMode(mode: number | string | undefined): number | undefined {
  if (mode === undefined) return undefined;
  return typeof mode === 'number' ? mode : Number.parseInt(mode, 8);
}

/**
 * Every local path the spec names must exist before any work starts (no base pulled, no layer
 * built for nothing); the error names the field and the path as resolved. (A base that is a file
 * is checked where it is opened: it may carry a selector.)
 */
async function checkInputs(spec: PdSpec, baseDir: string): Promise<void> {
  const paths: Array<[string, string]> = [];
  for (const [i, layer] of (spec.layers ?? []).entries()) paths.push([`$.layers[${i}].src`, layer.src]);
  for (const [key, o] of Object.entries(spec.overrides ?? {})) {
    const at = v.childPath('$.overrides', key);
    for (const [i, layer] of (o.layers ?? []).entries()) paths.push([`${at}.layers[${i}].src`, layer.src]);
  }
  if (spec.conda?.environment) paths.push(['$.conda.environment', spec.conda.environment]);
  if (spec.conda?.lockfile) paths.push(['$.conda.lockfile', spec.conda.lockfile]);
  for (const [field, path] of paths) {
    const full = resolve(baseDir, path);
    try {
      await stat(full);
    } catch (e) {
      throw new SpecInputError(field, full, describeFsError(e), baseDir, e);
    }
  }
}

/**
 * @pd/conda (with its 7 MiB WASM solver) is an optional peer dependency, imported only for a
 * pd.yaml that has a conda section: every other build neither installs nor loads it.
 */
async function loadConda(): Promise<typeof import('@pd/conda')> {
  return loadOptional('@pd/conda', () => import('@pd/conda'), 'a conda section', 'PD_CONDA_MISSING');
}

/** @pd/runner (runc, the layer store) likewise: only for a pd.yaml with `run:` steps. */
async function loadRunner(): Promise<typeof import('@pd/runner')> {
  return loadOptional('@pd/runner', () => import('@pd/runner'), 'run: steps', 'PD_RUNNER_MISSING');
}

async function loadOptional<T>(name: string, load: () => Promise<T>, what: string, code: string): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    if ((c === 'ERR_MODULE_NOT_FOUND' || c === 'MODULE_NOT_FOUND') && String(e).includes(name))
      throw new PdError(`pd.yaml has ${what}, and ${name} is not installed`, {
        code,
        hint: `install it beside @pd/build: npm install ${name}`,
        cause: e,
      });
    throw e;
  }
}

/** A `run:` entry as the runner takes it: shell or exec form, inputs resolved against pd.yaml's directory. */
function stepOf(step: StepSpec, baseDir: string): BuildStep {
  if (typeof step === 'string' || Array.isArray(step)) return { run: step };
  const { env, inputs, ...rest } = step;
  return {
    ...rest,
    ...(env ? { env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])) } : {}),
    ...(inputs ? { inputs: inputs.map((i) => resolve(baseDir, i)) } : {}),
  };
}

function condaInput(conda: CondaSpec, baseDir: string): CondaEnvironmentInput {
  if (conda.environment) return { environmentYml: resolve(baseDir, conda.environment) };
  if (conda.lockfile) return { lockfile: resolve(baseDir, conda.lockfile) };
  return { specs: conda.specs ?? [], ...(conda.channels ? { channels: conda.channels } : {}) };
}

function configEdits(config: ConfigSpec, created: number): ConfigEdits {
  const list = (x: string | string[]) => (typeof x === 'string' ? ['/bin/sh', '-c', x] : x);
  const strings = (m: Record<string, string | number | boolean>) =>
    Object.fromEntries(Object.entries(m).map(([k, val]) => [k, String(val)]));
  const edits: ConfigEdits = { created };
  if (config.env) edits.env = strings(config.env);
  if (config.entrypoint !== undefined) edits.entrypoint = list(config.entrypoint);
  if (config.cmd !== undefined) edits.cmd = list(config.cmd);
  if (config.workdir) edits.workingDir = config.workdir;
  if (config.user) edits.user = config.user;
  if (config.labels) edits.labels = strings(config.labels);
  if (config.ports)
    edits.exposedPorts = config.ports.map((p) =>
      typeof p === 'number' ? `${p}/tcp` : p.includes('/') ? p : `${p}/tcp`,
    );
  if (config.volumes) edits.volumes = config.volumes;
  if (config.stopSignal) edits.stopSignal = config.stopSignal;
  return edits;
}

/** What every layer built shares: compression, times, cache, progress. */
type LayerCommon = {
  compression: Compression;
  mtime: number;
  cache?: BlobCache;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
};

/** Everything a build needs besides the spec and the base. */
interface Context {
  baseDir: string;
  created: number;
  common: LayerCommon;
  options: BuildOptions | BuildIndexOptions;
}

function context(options: BuildOptions | BuildIndexOptions): Context {
  const created = buildEpoch();
  const common: LayerCommon = {
    compression: options.compression ?? 'gzip',
    mtime: created,
    ...(options.cache ? { cache: options.cache } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  return { baseDir: resolve(options.baseDir ?? process.cwd()), created, common, options };
}

/** One layer per `layers` entry, in order. */
async function buildLayers(layers: readonly LayerSpec[], ctx: Context): Promise<Addendum[]> {
  const out: Addendum[] = [];
  for (const layer of layers) {
    const filter = excludeFilter(layer);
    const built = await layerFromPaths([{ src: resolve(ctx.baseDir, layer.src), dest: layer.dest ?? '/' }], {
      ...ctx.common,
      ...(filter ? { filter } : {}),
    });
    out.push({ layer: built, history: { created_by: `pd build: ${layer.src} -> ${layer.dest ?? '/'}` } });
  }
  return out;
}

/** One layer of every inline file (none without files). */
async function buildFiles(files: readonly FileSpec[], ctx: Context): Promise<Addendum[]> {
  if (!files.length) return [];
  const contents: Record<string, ContentEntry> = {};
  for (const f of files) {
    const mode = fileMode(f.mode);
    contents[f.path] = { data: f.content, ...(mode === undefined ? {} : { mode }) };
  }
  const built = await layerFromContents(contents, ctx.common);
  return [
    { layer: built, history: { created_by: `pd build: files ${files.map((f) => f.path).join(', ')}` } },
  ];
}

/** The layers of a spec (or of one platform's override), built once and appended to every child. */
interface Built {
  layers: Addendum[];
  files: Addendum[];
}

async function buildParts(part: { layers?: LayerSpec[]; files?: FileSpec[] }, ctx: Context): Promise<Built> {
  return {
    layers: await buildLayers(part.layers ?? [], ctx),
    files: await buildFiles(part.files ?? [], ctx),
  };
}

/**
 * An override's config over the shared one: maps (env, labels) merge key by key, lists of
 * additions (ports, volumes) append, single values (entrypoint, cmd, workdir, user, stopSignal) replace.
 */
function mergeConfig(shared: ConfigSpec, own: ConfigSpec | undefined): ConfigSpec {
  if (!own) return shared;
  const merged: ConfigSpec = { ...shared, ...own };
  if (shared.env && own.env) merged.env = { ...shared.env, ...own.env };
  if (shared.labels && own.labels) merged.labels = { ...shared.labels, ...own.labels };
  if (shared.ports && own.ports) merged.ports = [...shared.ports, ...own.ports];
  if (shared.volumes && own.volumes) merged.volumes = [...new Set([...shared.volumes, ...own.volumes])];
  return merged;
}

/** Whether `have` is the platform `want` names (normalized; a variant only when `want` gives one). */
function isPlatform(want: Platform, have: Platform): boolean {
  const [w, h] = [normalizePlatform(want), normalizePlatform(have)];
  return w.os === h.os && w.architecture === h.architecture && (!w.variant || w.variant === h.variant);
}

/** The override of `platform`: the `overrides` key that names it. */
function overrideFor(spec: PdSpec, platform: Platform): OverrideSpec | undefined {
  const key = Object.keys(spec.overrides ?? {}).find((k) => isPlatform(parsePlatform(k), platform));
  return key === undefined ? undefined : spec.overrides![key];
}

/** The image a base serves for `platform`: scratch any, an index its child, an image its own only. */
async function baseFor(
  name: string,
  base: Image | ImageIndex | undefined,
  platform: Platform,
  text = formatPlatform(platform),
): Promise<Image> {
  if (base === undefined) return scratch({ platform });
  let image: Image;
  if (base.kind === 'index') {
    try {
      image = await imageForPlatform(base, platform);
    } catch (e) {
      if (e instanceof PlatformNotFoundError) throw new BasePlatformError(name, text, e.available, e);
      throw e;
    }
  } else image = base;
  const have = await imagePlatform(image);
  // imageForPlatform also takes a child that merely runs there (386 for amd64): a build wants the platform itself.
  if (have && !isPlatform(platform, have)) {
    const has = base.kind === 'index' ? await indexPlatforms(base) : [have];
    throw new BasePlatformError(name, text, has.map(formatPlatform));
  }
  return image;
}

/** The platforms an index lists, in order (through the one nested list a layout may point at); attestations left out. */
async function indexPlatforms(index: ImageIndex): Promise<Platform[]> {
  const children = await index.children();
  const listed = children
    .map((c) => c.descriptor.platform)
    .filter((p): p is Platform => p !== undefined && p.os !== 'unknown');
  if (listed.length > 0) return listed;
  const nested = children.filter((c) => !c.descriptor.platform && isIndexMediaType(c.descriptor.mediaType));
  if (nested.length === 1) {
    const inner = await nested[0]!.open();
    if (inner.kind === 'index') return indexPlatforms(inner);
  }
  return [];
}

/**
 * One child: the base, the shared layers then the platform's, the shared files layer then the
 * platform's, the conda environment for the platform's conda subdir, then the config.
 */
async function assemble(
  spec: PdSpec,
  base: Image,
  shared: Built,
  own: { built: Built; config: ConfigSpec | undefined },
  condaSubdir: string,
  ctx: Context,
): Promise<Image> {
  const { created, baseDir, options } = ctx;
  let image = base;
  for (const a of [...shared.layers, ...own.built.layers, ...shared.files, ...own.built.files]) {
    image = await appendLayers(image, [a], { created });
  }
  if (spec.conda) {
    const c = spec.conda;
    const condaOptions: CondaImageOptions = {
      baseDir,
      created,
      mtime: created,
      platform: condaSubdir,
      layering: c.layering ?? 'layered',
      compression: ctx.common.compression,
      ...(c.prefix ? { prefix: c.prefix } : {}),
      ...(c.exclude ? { filter: { exclude: c.exclude } } : {}),
      ...(c.channelAlias ? { channelAlias: c.channelAlias } : {}),
      ...(options.cache ? { blobCache: options.cache } : {}),
      ...(options.condaCacheDir ? { cacheDir: options.condaCacheDir } : {}),
      ...(options.onLog ? { onLog: options.onLog } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const { buildCondaImage } = await loadConda();
    image = await buildCondaImage(image, condaInput(c, baseDir), condaOptions);
  }
  if (spec.run?.length) {
    const { runStep } = await loadRunner();
    for (const [i, entry] of spec.run.entries()) {
      const step = stepOf(entry, baseDir);
      const result = await runStep(image, step, {
        created,
        ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
        ...(options.stepOutput ? { stdout: options.stepOutput, stderr: options.stepOutput } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      image = result.image;
      options.onStep?.({ index: i, of: spec.run.length, run: step.run, cached: result.cached });
    }
  }
  return editConfig(image, configEdits(mergeConfig(spec.config ?? {}, own.config), created));
}

/**
 * Build the image a pd.yaml describes: the base (or scratch), one layer per `layers` entry, one
 * layer of inline `files`, the conda environment, then the config. Every time in the image is
 * SOURCE_DATE_EPOCH (else 0) and every layer is deterministic, so the same spec and inputs give
 * the same digest. A pd.yaml that lists `platforms` builds an index ({@link buildIndex}): here
 * it needs `options.platform` to say which one image to build (its override applies), else
 * {@link SpecPlatformsError}.
 */
export async function buildImage(spec: PdSpec, options: BuildOptions = {}): Promise<Image> {
  if (spec.platforms && options.platform === undefined) throw new SpecPlatformsError(spec.platforms);
  const ctx = context(options);
  await checkInputs(spec, ctx.baseDir);
  const want = options.platform ?? spec.platform ?? 'linux/amd64';
  const platform = typeof want === 'string' ? parsePlatform(want) : want;
  const name = spec.base ?? 'scratch';
  // An image file (docker-archive, OCI layout / archive, with a selector: oci:./layout:v1,
  // ./app.tar:@1) relative to pd.yaml, or else a registry reference (docker://REF forces one).
  const base =
    name === 'scratch'
      ? scratch({ platform: want })
      : await openImage(name, {
          platform: want,
          cwd: ctx.baseDir,
          ...(options.client ? { client: options.client } : {}),
        });
  const override = overrideFor(spec, platform);
  const shared = await buildParts(spec, ctx);
  const own = { built: await buildParts(override ?? {}, ctx), config: override?.config };
  const subdir = spec.conda?.platform ?? CONDA_SUBDIRS[platform.architecture] ?? 'linux-64';
  return assemble(spec, base, shared, own, subdir, ctx);
}

/** The conda subdir of an image platform (linux/arm64 -> linux-aarch64); a platform conda has none for is an error. */
function condaSubdir(platform: Platform): string {
  const subdir =
    platform.os === 'linux' ? CONDA_SUBDIRS[normalizePlatform(platform).architecture] : undefined;
  if (subdir) return subdir;
  throw new PdError(`pd.yaml's conda section cannot be built for ${formatPlatform(platform)}`, {
    code: 'PD_CONDA_PLATFORM',
    hint: `conda environments are built for ${Object.keys(CONDA_SUBDIRS)
      .map((a) => `linux/${a}`)
      .join(', ')}`,
  });
}

/**
 * Build the index a pd.yaml with `platforms` describes: one child per platform, in order, each
 * built on the base's image for that platform (the base is opened once, as an index; `scratch`
 * serves any platform, a single-platform base only its own: else {@link BasePlatformError}).
 * The shared `layers` and `files` are built once and the same layers go into every child (one
 * blob each); a platform's `overrides` entry adds its own layers and files after the shared ones
 * and edits its config; a conda environment is built per platform, for its conda subdir.
 * `options.platforms` replaces the spec's list (`'all'`: every platform of the base index).
 */
export async function buildIndex(spec: PdSpec, options: BuildIndexOptions = {}): Promise<ImageIndex> {
  const ctx = context(options);
  await checkInputs(spec, ctx.baseDir);
  const name = spec.base ?? 'scratch';
  const base =
    name === 'scratch'
      ? undefined
      : await openImage(name, {
          platform: 'all',
          cwd: ctx.baseDir,
          ...(options.client ? { client: options.client } : {}),
        });
  const chosen = await chosenPlatforms(spec, options.platforms, name, base);
  const platforms = chosen.map((c) => c.platform);
  const texts = chosen.map((c) => c.text);
  if (spec.conda) for (const p of platforms) condaSubdir(p);
  const bases = [];
  for (const [i, p] of platforms.entries()) bases.push(await baseFor(name, base, p, texts[i]));
  const shared = await buildParts(spec, ctx);
  const children: Image[] = [];
  for (const [i, p] of platforms.entries()) {
    const override = overrideFor(spec, p);
    const own = { built: await buildParts(override ?? {}, ctx), config: override?.config };
    children.push(await assemble(spec, bases[i]!, shared, own, spec.conda ? condaSubdir(p) : '', ctx));
  }
  return newIndex(children.map((image) => ({ image })));
}

async function chosenPlatforms(
  spec: PdSpec,
  asked: BuildIndexOptions['platforms'],
  name: string,
  base: Image | ImageIndex | undefined,
): Promise<Array<{ platform: Platform; text: string }>> {
  if (asked === 'all') {
    if (base?.kind !== 'index') {
      throw new BaseNotIndexError(name);
    }
    const listed = await indexPlatforms(base);
    if (listed.length === 0) throw new BaseNotIndexError(name);
    return listed.map((platform) => ({ platform, text: formatPlatform(platform) }));
  }
  // Named in errors as the user wrote them (parsing spells linux/arm64 as linux/arm64/v8).
  const list = asked ?? spec.platforms ?? [spec.platform ?? 'linux/amd64'];
  return list.map((p) =>
    typeof p === 'string'
      ? { platform: parsePlatform(p), text: p }
      : { platform: p, text: formatPlatform(p) },
  );
}

/**
 * Build what a pd.yaml describes: an index when it lists `platforms` (or `options.platforms`
 * asks for several), else one image, as {@link buildIndex} and {@link buildImage} do. Tell the
 * two apart by the result's `kind` (`'index'` or `'image'`).
 */
export async function buildSpec(spec: PdSpec, options: BuildIndexOptions = {}): Promise<Image | ImageIndex> {
  if (options.platforms !== undefined || spec.platforms !== undefined) return buildIndex(spec, options);
  return buildImage(spec, options);
}
