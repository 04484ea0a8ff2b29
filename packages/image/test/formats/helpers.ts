import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import type { Descriptor, Digest, ImageConfig, ImageManifest } from '@pd/oci-types';
import { docker } from '@pd/test-fixtures';
import type { Image, Layer } from '../../src/model.js';

const execFileP = promisify(execFile);

const dirs: string[] = [];

/** A fresh temporary directory, removed by {@link cleanupTempDirs}. */
export async function tempDir(prefix = 'pd-formats-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export async function cleanupTempDirs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export async function sha256File(path: string): Promise<Digest> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}` as Digest;
}

export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

export async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const { stdout } = await execFileP(cmd, args, { cwd, maxBuffer: 64 << 20, encoding: 'utf8' });
  return stdout;
}

/** GNU tar, deterministic, of a directory's contents (`./x` names, as `tar -C dir .` writes them). */
export async function gnuTarDir(dir: string, out: string): Promise<void> {
  await run('tar', [
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '--format=gnu',
    '-C',
    dir,
    '-cf',
    out,
    '.',
  ]);
}

export async function streamToBuffer(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A layer file made with GNU tar (+ gzip -n), with the facts computed independently of pd. */
export interface LayerFile {
  path: string;
  digest: Digest;
  diffId: Digest;
  size: number;
  mediaType: string;
}

export type FileSpec = string | { data: string; mode: number };

/** Build a layer of `files` (paths without leading slash; `.wh.` names make whiteouts). */
export async function makeLayer(
  files: Record<string, FileSpec>,
  compression: 'gzip' | 'none' = 'gzip',
): Promise<LayerFile> {
  const work = await tempDir('pd-layer-');
  const root = join(work, 'root');
  await mkdir(root);
  for (const [p, spec] of Object.entries(files)) {
    const target = join(root, p);
    await mkdir(dirname(target), { recursive: true });
    const { data, mode } = typeof spec === 'string' ? { data: spec, mode: 0o644 } : spec;
    await writeFile(target, data);
    await chmod(target, mode);
  }
  const tar = join(work, 'layer.tar');
  await gnuTarDir(root, tar);
  const diffId = await sha256File(tar);
  if (compression === 'none') {
    return {
      path: tar,
      digest: diffId,
      diffId,
      size: (await stat(tar)).size,
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
    };
  }
  await run('gzip', ['-n', '-k', tar]);
  const gz = `${tar}.gz`;
  return {
    path: gz,
    digest: await sha256File(gz),
    diffId,
    size: (await stat(gz)).size,
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  };
}

/** A Layer over a file that does no verification of its own: the sinks must. */
export function fileLayer(f: LayerFile): Layer {
  return {
    digest: async () => f.digest,
    diffId: async () => f.diffId,
    size: async () => f.size,
    mediaType: async () => f.mediaType,
    compressed: async () => createReadStream(f.path),
    uncompressed: async () => {
      const s = createReadStream(f.path);
      return f.mediaType.endsWith('gzip') ? s.pipe(createGunzip()) : s;
    },
  };
}

/** A minimal Image over a config and layers (OCI manifest made here, deterministically). */
export function simpleImage(rawConfig: Uint8Array, layers: Layer[], layerDescriptors: Descriptor[]): Image {
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: sha256(rawConfig),
      size: rawConfig.byteLength,
    },
    layers: layerDescriptors,
  } as ImageManifest;
  const raw = Buffer.from(JSON.stringify(manifest));
  return {
    kind: 'image',
    mediaType: async () => 'application/vnd.oci.image.manifest.v1+json',
    rawManifest: async () => raw,
    manifest: async () => manifest,
    digest: async () => sha256(raw),
    size: async () => raw.byteLength,
    rawConfig: async () => rawConfig,
    config: async () => JSON.parse(Buffer.from(rawConfig).toString()) as ImageConfig,
    configDigest: async () => sha256(rawConfig),
    layers: async () => layers,
  };
}

/**
 * `base` plus one layer: config diff_ids, history and a label extended here. The base's layers are
 * reused as they are (so a docker-archive base keeps streaming from its archive).
 */
export async function extendImage(base: Image, extra: LayerFile, label: string): Promise<Image> {
  const config = JSON.parse(Buffer.from(await base.rawConfig()).toString()) as ImageConfig & {
    config?: { Labels?: Record<string, string> | null };
  };
  config.rootfs.diff_ids = [...config.rootfs.diff_ids, extra.diffId];
  config.history = [
    ...(config.history ?? []),
    { created: '1970-01-01T00:00:00Z', created_by: `pd test ${label}` },
  ];
  config.config = {
    ...(config.config ?? {}),
    Labels: { ...(config.config?.Labels ?? {}), 'pd.test': label },
  };
  const rawConfig = Buffer.from(JSON.stringify(config));
  const baseManifest = await base.manifest();
  const layers = [...(await base.layers()), fileLayer(extra)];
  const descriptors: Descriptor[] = [
    ...baseManifest.layers,
    { mediaType: extra.mediaType, digest: extra.digest, size: extra.size },
  ];
  return simpleImage(rawConfig, layers, descriptors);
}

export const randomTag = (): string => randomBytes(4).toString('hex');

/** `docker save` of local images into `out` (the engine's own writer). */
export async function dockerSave(out: string, refs: string[]): Promise<void> {
  await docker(['save', '-o', out, ...refs]);
}

/** Remove images from the engine, ignoring ones already gone. */
export async function dockerRemove(refs: string[]): Promise<void> {
  for (const r of refs) await docker(['image', 'rm', '-f', r]).catch(() => undefined);
}

/** All regular files under `dir`, relative, sorted. */
export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

export async function readText(path: string): Promise<string> {
  return (await readFile(path)).toString('utf8');
}
