import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Image, Layer } from '@pd/image';
import { digestHex } from '@pd/oci-types';
import { DockerError, InvalidOptionError, RuntimeNotFoundError } from '../errors.js';
import type { RunOptions, RunResult } from '../options.js';
import { defaultCacheDir } from '../paths.js';
import { forwardSignals, signalOfExitCode } from '../signals.js';
import { type TarEntry, writeTar } from '../tar-writer.js';
import { runTool, which } from '../tools.js';
import { parseVolume } from '../volumes.js';
import { startWatchdog } from '../watchdog.js';

// `runtime: 'docker'`: the same run, by the Docker engine. The image is loaded only when the
// engine lacks it (its image ID is the config digest), and then without the layers the engine
// already has: `docker load` looks a layer up by chain ID before it opens the layer's file, so
// the archive may name files it does not contain (verified with docker 20.10).

function dockerEnv(options: RunOptions): NodeJS.ProcessEnv {
  return options.dockerHost ? { ...process.env, DOCKER_HOST: options.dockerHost } : process.env;
}

function dockerBin(): string {
  const bin = which('docker');
  if (!bin) throw new RuntimeNotFoundError('docker');
  return bin;
}

async function docker(args: string[], options: RunOptions, input?: Readable): Promise<string> {
  const out = await runTool(dockerBin(), args, {
    input,
    env: dockerEnv(options),
    maxBuffer: 64 << 20,
    failure: (stderr, err) =>
      new DockerError(args[0] === 'image' ? `image ${args[1]}` : args[0]!, stderr || err.message),
  });
  return out.toString();
}

/** The diffID lists of every image the engine has, to know which layers it holds. */
async function engineLayerChains(options: RunOptions): Promise<string[][]> {
  const ids = (await docker(['image', 'ls', '--all', '--quiet', '--no-trunc'], options))
    .split('\n')
    .filter(Boolean);
  if (ids.length === 0) return [];
  const out = await docker(
    ['image', 'inspect', '--format', '{{json .RootFS.Layers}}', ...new Set(ids)],
    options,
  );
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as string[] | null) ?? []);
}

/** How many of `diffIds`, from the base up, the engine already has as one chain. */
function sharedPrefix(diffIds: string[], chains: string[][]): number {
  let best = 0;
  for (const chain of chains) {
    let n = 0;
    while (n < diffIds.length && n < chain.length && chain[n] === diffIds[n]) n++;
    best = Math.max(best, n);
  }
  return best;
}

async function layerEntry(layer: Layer, name: string, tmp: () => Promise<string>): Promise<TarEntry> {
  const mediaType = await layer.mediaType();
  const base = { name, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0 };
  // docker load reads gzip (and plain) layer files itself; others are stored uncompressed.
  if (!/zstd/.test(mediaType)) {
    return { ...base, source: { size: await layer.size(), open: () => layer.compressed() } };
  }
  const file = join(await tmp(), `${randomBytes(8).toString('hex')}.tar`);
  await pipeline(await layer.uncompressed(), createWriteStream(file));
  return { ...base, source: { path: file, size: (await stat(file)).size } };
}

/** Make the engine have `image` (by image ID); returns the ID and whether anything was loaded. */
export async function loadIntoDocker(
  image: Image,
  options: RunOptions = {},
): Promise<{ id: string; loaded: boolean }> {
  const configDigest = await image.configDigest();
  try {
    await docker(['image', 'inspect', '--format', '{{.Id}}', configDigest], options);
    options.onLog?.({
      kind: 'docker',
      message: `docker already has image ${configDigest.slice(7, 19)}`,
      loaded: false,
    });
    return { id: configDigest, loaded: false };
  } catch {
    // not there: load it
  }
  const layers = await image.layers();
  const diffIds = await Promise.all(layers.map((l) => l.diffId()));
  const have = sharedPrefix(diffIds, await engineLayerChains(options).catch(() => []));
  let tmpDir: string | undefined;
  const tmp = async () => {
    if (!tmpDir) {
      const root = join(options.cacheDir ?? defaultCacheDir(), 'tmp');
      await mkdir(root, { recursive: true });
      tmpDir = await mkdtemp(join(root, 'docker-load-'));
    }
    return tmpDir;
  };
  const load = async (skip: number) => {
    const names = diffIds.map((d) => `${digestHex(d)}/layer.tar`);
    const manifest = [{ Config: `${digestHex(configDigest)}.json`, RepoTags: null, Layers: names }];
    const entries: TarEntry[] = [];
    const file = (name: string, data: Uint8Array): TarEntry => ({
      name,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 0,
      source: { data, size: data.length },
    });
    entries.push(file('manifest.json', Buffer.from(JSON.stringify(manifest))));
    entries.push(file(`${digestHex(configDigest)}.json`, await image.rawConfig()));
    for (let i = skip; i < layers.length; i++) entries.push(await layerEntry(layers[i]!, names[i]!, tmp));
    const out = await docker(['load'], options, writeTar(entries));
    if (!out.includes(configDigest)) throw new DockerError('load', `unexpected answer: ${out}`);
  };
  try {
    try {
      await load(have);
    } catch (e) {
      if (have === 0) throw e;
      await load(0); // the engine dropped a layer meanwhile: send everything
    }
  } finally {
    if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
  }
  options.onLog?.({
    kind: 'docker',
    message: `loaded image ${configDigest.slice(7, 19)} into docker (${layers.length - have} of ${layers.length} layers sent)`,
    loaded: true,
  });
  return { id: configDigest, loaded: true };
}

/** `docker run` arguments for the options (the same flags as pd's). */
export function dockerRunArgs(imageId: string, name: string, options: RunOptions): string[] {
  const a = ['run', '--name', name, '--network', options.network ?? 'none'];
  if (options.rm) a.push('--rm');
  if (options.interactive) a.push('--interactive');
  if (options.tty) a.push('--tty');
  for (const f of options.envFiles ?? []) a.push('--env-file', f);
  const env =
    options.env === undefined
      ? []
      : Array.isArray(options.env)
        ? options.env
        : Object.entries(options.env).map(([k, v]) => `${k}=${v}`);
  for (const e of env) a.push('--env', e);
  if (options.workdir) a.push('--workdir', options.workdir);
  if (options.user) a.push('--user', options.user);
  for (const v of options.volumes ?? []) {
    const spec = typeof v === 'string' ? parseVolume(v) : v;
    a.push('--volume', `${spec.source}:${spec.target}${spec.readOnly ? ':ro' : ''}`);
  }
  if (options.readOnly) a.push('--read-only');
  // Limits and privileges: docker takes the same flags (and says itself what it cannot enforce).
  if (options.memory !== undefined) a.push('--memory', String(options.memory));
  if (options.cpus !== undefined) a.push('--cpus', String(options.cpus));
  if (options.pidsLimit !== undefined) a.push('--pids-limit', String(options.pidsLimit));
  for (const c of options.capAdd ?? []) a.push('--cap-add', c);
  for (const c of options.capDrop ?? []) a.push('--cap-drop', c);
  for (const o of options.securityOpt ?? []) a.push('--security-opt', o);
  for (const t of options.tmpfs ?? []) a.push('--tmpfs', t);
  if (options.hostname) a.push('--hostname', options.hostname);
  if (options.stopTimeout !== undefined) a.push('--stop-timeout', String(options.stopTimeout));
  let args = options.args ?? [];
  if (options.entrypoint !== undefined) {
    const ep = typeof options.entrypoint === 'string' ? [options.entrypoint] : options.entrypoint;
    // docker takes one executable; the rest of an array entrypoint goes before the arguments.
    a.push('--entrypoint', ep[0] ?? '');
    args = [...ep.slice(1), ...args];
  }
  if (options.rootfs === 'overlay' || options.rootfs === 'copy') {
    throw new InvalidOptionError('--rootfs', 'docker assembles the root filesystem itself');
  }
  return [...a, imageId, ...args];
}

/** Run with the Docker engine: load if needed, then `docker run` with the same flags. */
export async function dockerRun(image: Image, options: RunOptions): Promise<RunResult> {
  dockerBin();
  const { id } = await loadIntoDocker(image, options);
  const name = options.name ?? `pd-${randomBytes(6).toString('hex')}`;
  const args = dockerRunArgs(id, name, options);
  options.onLog?.({ kind: 'exec', message: `exec docker ${args.join(' ')}`, argv: ['docker', ...args] });
  const inherit = (s: unknown) => s === undefined || s === 'inherit';
  const stdio: StdioOptions = [
    options.interactive ? (inherit(options.stdin) ? 'inherit' : 'pipe') : 'ignore',
    inherit(options.stdout) ? 'inherit' : 'pipe',
    inherit(options.stderr) ? 'inherit' : 'pipe',
  ];
  const child: ChildProcess = spawn(dockerBin(), args, { stdio, env: dockerEnv(options), detached: true });
  // If pd dies without finishing, the engine would keep the container: see watchdog.ts.
  // A kept container (no rm) is only stopped, as it would be had it exited.
  const cleanup = options.rm ? ['rm', '--force', name] : ['kill', name];
  const watchdog = startWatchdog([dockerBin(), ...cleanup], { env: dockerEnv(options) });
  if (options.interactive && !inherit(options.stdin) && child.stdin) {
    child.stdin.on('error', () => {});
    (options.stdin as Readable).pipe(child.stdin);
  }
  const outputs: Array<Promise<void>> = [];
  for (const [from, to] of [
    [child.stdout, options.stdout],
    [child.stderr, options.stderr],
  ] as const) {
    if (from && to && to !== 'inherit') {
      outputs.push(
        new Promise((resolve) => {
          from.pipe(to as Writable, { end: false });
          from.once('end', resolve);
        }),
      );
    }
  }
  const kill = () => void docker(['kill', name], options).catch(() => undefined);
  // The docker CLI proxies signals to the container itself.
  const unforward =
    options.forwardSignals === false
      ? () => {}
      : forwardSignals(child, {
          tty: options.tty === true,
          stopTimeout: options.stopTimeout ?? 10,
          forceKill: kill,
        });
  const onAbort = () =>
    void docker(['stop', '--time', String(options.stopTimeout ?? 10), name], options).catch(() => undefined);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
    });
    await Promise.all(outputs);
    const sig = signalOfExitCode(exitCode);
    return { exitCode, id: name, ...(sig ? { signal: sig } : {}) };
  } finally {
    watchdog.release();
    unforward();
    options.signal?.removeEventListener('abort', onAbort);
  }
}
