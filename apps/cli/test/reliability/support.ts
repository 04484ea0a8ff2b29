import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { RegistryClient } from '@pd/registry';
import { expect } from 'vitest';
import { hasStackTrace, type PdResult } from '../helpers.js';

export { hasStackTrace, isolatedEnv, type PdResult, pd } from '../helpers.js';

export const sha256 = (b: Uint8Array | string): string =>
  `sha256:${createHash('sha256').update(b).digest('hex')}`;

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/**
 * What every failing command owes the user: exit code 1, one `pd: ` line on stderr, nothing on
 * stdout, no stack trace.
 */
export function expectCleanFailure(r: PdResult, message?: RegExp): void {
  expect(r.code, `stderr: ${r.stderr}`).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^pd: /);
  if (message) expect(lines[0]).toMatch(message);
  expect(hasStackTrace(r.stderr)).toBe(false);
}

/** Every path under `dir` (relative), with what it is: file content hash, link target or dir. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const key = relative(dir, p);
      if (st.isSymbolicLink()) out[key] = `link:${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[key] = `dir:${(st.mode & 0o7777).toString(8)}`;
        visit(p);
      } else if (st.isFile()) out[key] = `file:${(st.mode & 0o7777).toString(8)}:${sha256(readFileSync(p))}`;
      else out[key] = 'other';
    }
  };
  visit(dir);
  return out;
}

/** Relative paths of every file and directory under `dir`. */
export function tree(dir: string): string[] {
  return Object.keys(snapshot(dir));
}

export interface RawImage {
  ref: string;
  digest: string;
  manifest: Record<string, unknown>;
  layers: Array<{ digest: string; size: number }>;
  config: { digest: string; size: number };
}

/**
 * Push an image byte by byte with @pd/registry's uploadBlob/putManifest (no @pd/image involved):
 * layers as given (uncompressed tars unless `layerMediaType` says otherwise), a config naming
 * their diffIDs (or `config` as given, valid or not), and the manifest after `edit`.
 */
export async function pushRaw(
  client: RegistryClient,
  repoRef: string,
  tag: string,
  opts: {
    layers: Buffer[];
    config?: unknown;
    layerMediaType?: string;
    edit?: (manifest: Record<string, unknown>) => Record<string, unknown>;
    mediaType?: string;
  },
): Promise<RawImage> {
  const upload = async (b: Buffer) => {
    const digest = sha256(b);
    await client.uploadBlob(repoRef, () => Readable.from([b]), { digest, size: b.length });
    return { digest, size: b.length };
  };
  const layers = [];
  for (const l of opts.layers) layers.push(await upload(l));
  // `config: null` is a config too (a wrong one): only a missing key means "make a valid one".
  const configDoc =
    'config' in opts
      ? opts.config
      : ({
          architecture: 'amd64',
          os: 'linux',
          config: { Cmd: ['/bin/true'] },
          rootfs: { type: 'layers', diff_ids: opts.layers.map((l) => sha256(l)) },
        } as const);
  const configBytes = Buffer.isBuffer(configDoc) ? configDoc : Buffer.from(JSON.stringify(configDoc));
  const config = await upload(configBytes);
  let manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, ...config },
    layers: layers.map((l) => ({ mediaType: opts.layerMediaType ?? MT.ociLayer, ...l })),
  };
  if (opts.edit) manifest = opts.edit(manifest);
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = await client.putManifest(`${repoRef}:${tag}`, bytes, opts.mediaType ?? MT.ociManifest);
  return { ref: `${repoRef}:${tag}`, digest, manifest, layers, config };
}

/** An anonymous client for a loopback registry that never reads the machine's docker config. */
export function rawClient(): RegistryClient {
  return new RegistryClient({ dockerConfig: false, retry: { attempts: 1 } });
}

/** Resolve with `p`, or fail the test after `ms` (a hang is a failure, not a stuck suite). */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
