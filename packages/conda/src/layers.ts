import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BlobCache, KnownLayer, type Layer, layerFromContents, layerFromDir } from '@pd/image';
import { mapLimit } from '@pd/internal';
import type { Compression, Digest, History } from '@pd/oci-types';
import { globMatcher, sourceDateEpoch } from '@pd/tar';
import { condaCacheDir } from './cache-dir.js';
import type { Channel } from './channels.js';
import { extractPackage } from './extract/index.js';
import { condaHistory, type LinkedPackage, linkPackage } from './link/index.js';
import { dependencyOrder } from './order.js';
import { PackageCache, readJson, writeJsonAtomic } from './package-cache.js';
import type { ProgressEvent } from './progress.js';
import { type CondaPackageRecord, stemOf } from './record.js';

/** Static libraries and source maps: never needed to run an environment. */
export const DEFAULT_EXCLUDE = ['*.a', '*.js.map'];

/** Bump when the layer content for the same inputs changes (linking, conda-meta, tar layout). */
const LAYOUT_VERSION = 1;

/** A resolved environment: what was asked for and the packages that satisfy it. */
export interface CondaEnvironment {
  specs: string[];
  channels: Channel[];
  platform: string;
  /** In any order; layers follow dependency order (unless `ordered`). */
  packages: CondaPackageRecord[];
  /** The packages are in install order already (an explicit lockfile): keep it. */
  ordered?: boolean;
}

/** Options of {@link condaLayers}. */
export interface CondaLayerOptions {
  /** `layered` (default): one layer per package, dependencies first, then a small meta layer. `single`: one layer. */
  layering?: 'layered' | 'single';
  /** Default `/opt/conda`. */
  prefix?: string;
  /** Globs of prefix-relative paths to leave out (default {@link DEFAULT_EXCLUDE}); `false` keeps everything. */
  filter?: { exclude?: string[] } | false;
  /** Default gzip (what every engine reads). */
  compression?: Compression;
  /** Conda cache root (default `<pd cache>/conda`): pkgs/, layers/, staging/. */
  cacheDir?: string;
  /** Where layer blobs go (default @pd/image's shared cache). */
  blobCache?: BlobCache;
  /** Where package archives are fetched to (default one over `<cacheDir>/pkgs`). */
  packageCache?: PackageCache;
  /** Packages fetched and linked at once. Default 4. */
  concurrency?: number;
  /** File times in the layers (default SOURCE_DATE_EPOCH, else 0). */
  mtime?: number;
  /** Download and compression progress, by package. */
  onProgress?: (e: ProgressEvent) => void;
  /** Receives each warning (package scripts not run, packages without a checksum). */
  onLog?: (message: string) => void;
  signal?: AbortSignal;
}

/** One layer of a conda environment, with its history entry and what it holds. */
export interface CondaLayer {
  layer: Layer;
  /** The image history entry for the layer (`created_by: pd conda: ...`). */
  history: History;
  /** `name-version-build` of the packages it holds (none for the meta layer). */
  packages: string[];
  /** One package (`layered`), the whole environment (`single`), or the conda-meta/history layer. */
  kind: 'package' | 'environment' | 'meta';
}

/** What {@link condaLayers} returns: the layers, base first, and what went into them. */
export interface CondaLayersResult {
  layers: CondaLayer[];
  /** Packages in the order they were layered. */
  packages: CondaPackageRecord[];
  /** Package scripts that were not run, and similar. */
  warnings: string[];
  stats: {
    /** Layers compressed by this call. */
    built: number;
    /** Layers taken from the layer cache. */
    reused: number;
  };
}

interface LayerRecord {
  digest: Digest;
  diffId: Digest;
  size: number;
  mediaType: string;
  warnings: string[];
}

/** A layer whose blob sits in the blob cache, its facts read from the layer record: no I/O until a sink reads it. */
function cachedLayerOf(blobs: BlobCache, rec: LayerRecord): Layer {
  return new KnownLayer({
    digest: rec.digest,
    diffId: rec.diffId,
    size: rec.size,
    mediaType: rec.mediaType,
    open: (o) => blobs.open(rec.digest, o.signal ? { signal: o.signal } : {}),
  });
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function pythonVersionOf(packages: CondaPackageRecord[]): string | undefined {
  return packages.find((p) => p.name === 'python')?.version;
}

/**
 * The layers of a conda environment under `prefix`. Each package layer is built once and kept
 * by (package checksum, prefix, filter, python version when the package is noarch, requested
 * spec, mtime, compression): a rebuild that changes one package compresses and pushes that layer
 * only. The small meta layer (conda-meta/history) names the requested specs, not the solved
 * packages, so it changes only when the specs do.
 */
export async function condaLayers(
  env: CondaEnvironment,
  options: CondaLayerOptions = {},
): Promise<CondaLayersResult> {
  const prefix = (options.prefix ?? '/opt/conda').replace(/\/+$/, '') || '/opt/conda';
  const root = options.cacheDir ?? condaCacheDir();
  const blobs = options.blobCache ?? BlobCache.default();
  const pkgs = options.packageCache ?? new PackageCache(join(root, 'pkgs'));
  const exclude = options.filter === false ? [] : (options.filter?.exclude ?? DEFAULT_EXCLUDE);
  const excluded = exclude.length ? globMatcher(exclude) : undefined;
  const compression = options.compression ?? 'gzip';
  const mtime = options.mtime ?? sourceDateEpoch() ?? 0;
  const python = pythonVersionOf(env.packages);
  const ordered = env.ordered ? [...env.packages] : dependencyOrder(env.packages);
  const layersDir = join(root, 'layers');
  await mkdir(layersDir, { recursive: true });
  const stats = { built: 0, reused: 0 };
  const warnings: string[] = [];
  const common = { v: LAYOUT_VERSION, prefix, exclude, compression, mtime };
  const signalOpt = options.signal ? { signal: options.signal } : {};

  const keyOf = (p: CondaPackageRecord) =>
    sha256(
      JSON.stringify({
        ...common,
        package: p.sha256 ?? p.md5 ?? p.url,
        filename: p.filename,
        url: p.url,
        python: p.subdir === 'noarch' ? python : undefined,
        requested: p.requestedSpec ?? '',
      }),
    );

  const cachedLayer = async (key: string): Promise<LayerRecord | undefined> => {
    const rec = await readJson<LayerRecord>(join(layersDir, `${key}.json`));
    if (rec && (await blobs.has(rec.digest))) return rec;
    return undefined;
  };

  const build = async (dir: string, label: string): Promise<LayerRecord> => {
    const layer = await layerFromDir(dir, {
      dest: prefix,
      cache: blobs,
      compression,
      mtime,
      ...signalOpt,
      ...(options.onProgress ? { onProgress: (e) => options.onProgress?.({ ...e, id: label, label }) } : {}),
    });
    stats.built++;
    return {
      digest: await layer.digest(),
      diffId: await layer.diffId(),
      size: await layer.size(),
      mediaType: await layer.mediaType(),
      warnings: [],
    };
  };

  /** Fetch, extract and link one package into `staging`. */
  const stage = async (p: CondaPackageRecord, staging: string): Promise<LinkedPackage> => {
    const archive = await pkgs.fetch(p, {
      ...signalOpt,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.onLog ? { onLog: options.onLog } : {}),
    });
    const extracted = await extractPackage(archive, join(dirname(archive), stemOf(p.filename)), {
      ...signalOpt,
      filename: p.filename,
    });
    return linkPackage(extracted, p, staging, {
      prefix,
      pythonVersion: python,
      ...(excluded ? { exclude: excluded } : {}),
    });
  };

  const stagingRoot = join(root, 'staging');
  await mkdir(stagingRoot, { recursive: true });
  const facts: LayerRecord[] = [];
  const out: CondaLayer[] = [];

  if ((options.layering ?? 'layered') === 'layered') {
    // settle: a failure waits for the packages in flight, so their staging directories are gone.
    await mapLimit(
      ordered,
      options.concurrency ?? 4,
      async (p, i) => {
        const key = keyOf(p);
        const label = stemOf(p.filename);
        let rec = await cachedLayer(key);
        if (rec) stats.reused++;
        else {
          const staging = await mkdtemp(join(stagingRoot, `${label}-`));
          try {
            const linked = await stage(p, staging);
            rec = { ...(await build(staging, label)), warnings: linked.warnings };
            await writeJsonAtomic(join(layersDir, `${key}.json`), rec);
          } finally {
            await rm(staging, { recursive: true, force: true });
          }
        }
        facts[i] = rec;
      },
      { settle: true },
    );
    ordered.forEach((p, i) => {
      const rec = facts[i]!;
      warnings.push(...rec.warnings);
      out.push({
        layer: cachedLayerOf(blobs, rec),
        history: { created_by: `pd conda: ${stemOf(p.filename)}`, comment: p.url },
        packages: [stemOf(p.filename)],
        kind: 'package',
      });
    });
  } else {
    const key = sha256(JSON.stringify({ ...common, single: ordered.map(keyOf), specs: env.specs }));
    let rec = await cachedLayer(key);
    if (rec) stats.reused++;
    else {
      const staging = await mkdtemp(join(stagingRoot, 'environment-'));
      try {
        const all: string[] = [];
        // Linked one after the other: packages may overwrite each other's files, later ones win.
        for (const p of ordered) all.push(...(await stage(p, staging)).warnings);
        await mkdir(join(staging, 'conda-meta'), { recursive: true });
        await writeFile(join(staging, 'conda-meta', 'history'), condaHistory(ordered, env.specs, mtime));
        rec = { ...(await build(staging, 'conda environment')), warnings: all };
        await writeJsonAtomic(join(layersDir, `${key}.json`), rec);
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    }
    warnings.push(...rec.warnings);
    out.push({
      layer: cachedLayerOf(blobs, rec),
      history: { created_by: `pd conda: environment of ${ordered.length} packages` },
      packages: ordered.map((p) => stemOf(p.filename)),
      kind: 'environment',
    });
  }

  if ((options.layering ?? 'layered') === 'layered') {
    // Specs only: the meta layer must not change when one package does (see condaHistory).
    const history = condaHistory(ordered, env.specs, mtime, { listPackages: false });
    const key = sha256(JSON.stringify({ ...common, meta: history }));
    let rec = await cachedLayer(key);
    if (rec) stats.reused++;
    else {
      const layer = await layerFromContents(
        { 'conda-meta/history': history },
        { dest: prefix, cache: blobs, compression, mtime, ...signalOpt },
      );
      stats.built++;
      rec = {
        digest: await layer.digest(),
        diffId: await layer.diffId(),
        size: await layer.size(),
        mediaType: await layer.mediaType(),
        warnings: [],
      };
      await writeJsonAtomic(join(layersDir, `${key}.json`), rec);
    }
    out.push({
      layer: cachedLayerOf(blobs, rec),
      history: { created_by: 'pd conda: conda-meta/history' },
      packages: [],
      kind: 'meta',
    });
  }
  for (const w of warnings) options.onLog?.(w);
  return { layers: out, packages: ordered, warnings, stats };
}
