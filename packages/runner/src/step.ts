import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rename, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Writable } from 'node:stream';
import type { Image, Layer, StreamOptions } from '@pd/image';
import { type Digest, PdError } from '@pd/oci-types';
import { commitChanges } from './commit.js';
import { removeContainer } from './lifecycle.js';
import type { RunnerEvent } from './options.js';
import { defaultCacheDir } from './paths.js';
import { run } from './run.js';

// A Dockerfile's RUN, without docker: the command runs in a container of the image built so far,
// and what it changed becomes one layer (commit.ts). A cache keyed by the parent image, the step
// and the files it names skips a step whose inputs did not change, as docker's build cache does.

/** One `run:` step. */
export interface BuildStep {
  /** A string is shell form (`/bin/sh -c`), an array exec form. */
  run: string | string[];
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
  /** `none` (default): loopback only; `host` to download what the step installs. */
  network?: 'none' | 'host';
  /**
   * Host paths the step's result depends on beyond the image (e.g. a file it reads through a
   * layer added before): their content is part of the cache key.
   */
  inputs?: string[];
}

/** Options of `runStep`. */
export interface RunStepOptions {
  /** pd's cache (default: see `RunOptions.cacheDir`): the runner's layers, and the step cache under `steps/`. */
  cacheDir?: string;
  /** Latest file time in the new layer, and the config's `created` (the build's epoch). */
  created?: number;
  /** `false` runs the step even when the cache has it (default true). */
  cache?: boolean;
  /** Where the step's output goes (default: discarded). */
  stdout?: Writable;
  stderr?: Writable;
  signal?: AbortSignal;
  onLog?: (event: RunnerEvent) => void;
}

/** What `runStep` did, beside the image. */
export interface StepResult {
  image: Image;
  /** Whether the layer came from the step cache (the step did not run). */
  cached: boolean;
}

/** A `run:` step that exited non-zero (or was killed). */
export class StepFailedError extends PdError {
  constructor(
    readonly step: string,
    /** The command's exit code (pd itself exits 1, as docker build does). */
    readonly stepExitCode: number,
  ) {
    super(`run step "${step}" failed with exit code ${stepExitCode}`, {
      code: 'STEP_FAILED',
      hint: 'its output is above (pd build --verbose shows it); fix the command or its inputs',
    });
  }
}

/** The argv a step runs and how docker's history writes it. */
function commandOf(step: BuildStep): { argv: string[]; text: string } {
  if (typeof step.run === 'string')
    return { argv: ['/bin/sh', '-c', step.run], text: `/bin/sh -c ${step.run}` };
  return { argv: step.run, text: JSON.stringify(step.run) };
}

/**
 * `image` with the changes `step` makes: run in a container of `image` (network none unless the
 * step asks for host), committed as one layer, or taken from the step cache when the same step
 * ran on the same image with the same inputs before.
 */
export async function runStep(
  image: Image,
  step: BuildStep,
  options: RunStepOptions = {},
): Promise<StepResult> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const { argv, text } = commandOf(step);
  const history = { created_by: text, comment: 'pd build run step' };
  const created = options.created;
  const key = await stepKey(image, step, argv);
  const entry = join(cacheDir, 'steps', `${key}.json`);
  const { appendLayers, BlobCache, KnownLayer } = await import('@pd/image');
  const blobs = new BlobCache(cacheDir);
  if (options.cache !== false) {
    const known = await readEntry(entry);
    if (known && (await blobs.has(known.digest))) {
      options.onLog?.({ kind: 'cached', message: `run ${text}: cached`, diffId: known.diffId });
      const layer: Layer = new KnownLayer({
        ...known,
        open: (o: StreamOptions) => blobs.open(known.digest, o.signal ? { signal: o.signal } : {}),
        verified: true,
      });
      const done = await appendLayers(image, [{ layer, history }], created !== undefined ? { created } : {});
      return { image: done, cached: true };
    }
  }
  const name = `pd-step-${randomBytes(8).toString('hex')}`;
  try {
    const result = await run(image, {
      name,
      cacheDir,
      entrypoint: argv,
      args: [],
      env: step.env ?? {},
      ...(step.workdir ? { workdir: step.workdir } : {}),
      ...(step.user ? { user: step.user } : {}),
      network: step.network ?? 'none',
      rootfs: 'overlay',
      forwardSignals: false,
      stdout: options.stdout ?? devNull(),
      stderr: options.stderr ?? devNull(),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onLog ? { onLog: options.onLog } : {}),
    });
    if (result.exitCode !== 0) throw new StepFailedError(text, result.exitCode);
    const upper = join(cacheDir, 'containers', name, 'upper');
    const done = await commitChanges(image, upper, {
      history,
      cache: blobs,
      ...(created !== undefined ? { clampMtime: created } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const layer = (await done.layers()).at(-1)!;
    await writeEntry(entry, {
      digest: await layer.digest(),
      diffId: await layer.diffId(),
      size: await layer.size(),
      mediaType: await layer.mediaType(),
    });
    return { image: done, cached: false };
  } finally {
    await removeContainer(name, { cacheDir, force: true }).catch(() => undefined);
  }
}

interface CacheEntry {
  digest: Digest;
  diffId: Digest;
  size: number;
  mediaType: string;
}

/** The cache key: the parent image, the step as it runs, and the content of the inputs it names. */
async function stepKey(image: Image, step: BuildStep, argv: string[]): Promise<string> {
  const h = createHash('sha256');
  h.update(
    JSON.stringify({
      v: 1,
      parent: await image.digest(),
      argv,
      env: step.env ?? {},
      workdir: step.workdir ?? '',
      user: step.user ?? '',
      network: step.network ?? 'none',
    }),
  );
  for (const input of step.inputs ?? []) await hashTree(h, input, input);
  return h.digest('hex');
}

/** Names, modes and contents of a host file or tree, in a fixed order. */
async function hashTree(h: ReturnType<typeof createHash>, root: string, path: string): Promise<void> {
  const st = await lstat(path);
  h.update(`\0${relative(root, path)}\0${st.mode}\0`);
  if (st.isSymbolicLink()) h.update(await readlink(path));
  else if (st.isFile()) h.update(await readFile(path));
  else if (st.isDirectory()) {
    for (const name of (await readdir(path)).sort()) await hashTree(h, root, join(path, name));
  }
}

async function readEntry(file: string): Promise<CacheEntry | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as CacheEntry;
  } catch {
    return undefined;
  }
}

async function writeEntry(file: string, entry: CacheEntry): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(entry));
  await rename(tmp, file);
}

function devNull(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}
