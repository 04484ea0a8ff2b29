import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
// Types only: erased from the JavaScript, and absent from the .d.ts (none is part of the API).
import type { CondaEnvironmentInput, CondaImageOptions } from '@pd/conda';
import {
  appendLayers,
  type BlobCache,
  type ConfigEdits,
  editConfig,
  type Image,
  layerFromContents,
  layerFromPaths,
  type OpenImageOptions,
  openImage,
  scratch,
} from '@pd/image';
import { type Compression, PdError } from '@pd/oci-types';
import type { ContentEntry, ProgressEvent } from '@pd/tar';
import { globMatcher, sourceDateEpoch, type TarFilter } from '@pd/tar';
import { describeFsError, SpecInputError } from './errors.js';
import type { CondaSpec, ConfigSpec, LayerSpec, PdSpec } from './spec.js';

/** Options of {@link buildImage}. */
export interface BuildOptions {
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
  signal?: AbortSignal;
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

async function baseImage(spec: PdSpec, baseDir: string, client?: OpenImageOptions['client']): Promise<Image> {
  const base = spec.base ?? 'scratch';
  const platform = spec.platform ?? 'linux/amd64';
  if (base === 'scratch') return scratch({ platform });
  // An image file (docker-archive, OCI layout / archive, with a selector: oci:./layout:v1,
  // ./app.tar:@1) relative to pd.yaml, or else a registry reference (docker://REF forces one).
  return openImage(base, { platform, cwd: baseDir, ...(client ? { client } : {}) });
}

/**
 * Every local path the spec names must exist before any work starts (no base pulled, no layer
 * built for nothing); the error names the field and the path as resolved. (A base that is a file
 * is checked where it is opened: it may carry a selector.)
 */
async function checkInputs(spec: PdSpec, baseDir: string): Promise<void> {
  const paths: Array<[string, string]> = [];
  for (const [i, layer] of (spec.layers ?? []).entries()) paths.push([`$.layers[${i}].src`, layer.src]);
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
  try {
    return await import('@pd/conda');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String(e).includes('@pd/conda'))
      throw new PdError('pd.yaml has a conda section, and @pd/conda is not installed', {
        code: 'PD_CONDA_MISSING',
        hint: 'install it beside @pd/build: npm install @pd/conda',
        cause: e,
      });
    throw e;
  }
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

/**
 * Build the image a pd.yaml describes: the base (or scratch), one layer per `layers` entry, one
 * layer of inline `files`, the conda environment, then the config. Every time in the image is
 * SOURCE_DATE_EPOCH (else 0) and every layer is deterministic, so the same spec and inputs give
 * the same digest.
 */
export async function buildImage(spec: PdSpec, options: BuildOptions = {}): Promise<Image> {
  const baseDir = resolve(options.baseDir ?? process.cwd());
  const created = buildEpoch();
  const common = {
    compression: options.compression ?? 'gzip',
    mtime: created,
    ...(options.cache ? { cache: options.cache } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  await checkInputs(spec, baseDir);
  let image = await baseImage(spec, baseDir, options.client);

  for (const layer of spec.layers ?? []) {
    const filter = excludeFilter(layer);
    const built = await layerFromPaths([{ src: resolve(baseDir, layer.src), dest: layer.dest ?? '/' }], {
      ...common,
      ...(filter ? { filter } : {}),
    });
    image = await appendLayers(
      image,
      [{ layer: built, history: { created_by: `pd build: ${layer.src} -> ${layer.dest ?? '/'}` } }],
      {
        created,
      },
    );
  }

  if (spec.files?.length) {
    const contents: Record<string, ContentEntry> = {};
    for (const f of spec.files) {
      const mode = fileMode(f.mode);
      contents[f.path] = { data: f.content, ...(mode === undefined ? {} : { mode }) };
    }
    const built = await layerFromContents(contents, common);
    image = await appendLayers(
      image,
      [
        {
          layer: built,
          history: { created_by: `pd build: files ${spec.files.map((f) => f.path).join(', ')}` },
        },
      ],
      {
        created,
      },
    );
  }

  if (spec.conda) {
    const c = spec.conda;
    const arch = (spec.platform ?? 'linux/amd64').split('/')[1] ?? 'amd64';
    const condaOptions: CondaImageOptions = {
      baseDir,
      created,
      mtime: created,
      platform: c.platform ?? CONDA_SUBDIRS[arch] ?? 'linux-64',
      layering: c.layering ?? 'layered',
      compression: common.compression,
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

  return editConfig(image, configEdits(spec.config ?? {}, created));
}
