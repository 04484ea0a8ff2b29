import { stat } from 'node:fs/promises';
import { type Platform, tryParseReference } from '@pd/oci-types';
import { UnknownImageSourceError } from './errors.js';
import { readDockerArchive, readOciArchive, readOciLayout, sniffFormat } from './formats/index.js';
import type { Image, ImageIndex } from './model.js';
import { imageForPlatform } from './platform.js';
import { type RemoteOptions, get as remoteGet, image as remoteImage } from './remote.js';

export interface OpenImageOptions extends RemoteOptions {
  /**
   * Platform to pick from an index (default: the running machine's); 'all' keeps an index as
   * it is (the result may then be an {@link ImageIndex}).
   */
  platform?: Platform | string | 'all';
  /** Which image of a file: a RepoTag of a docker archive, a ref.name of an OCI layout. */
  tag?: string;
}

async function kind(path: string): Promise<'file' | 'directory' | undefined> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'file';
  } catch {
    return undefined;
  }
}

/** Read a docker archive, OCI archive or OCI layout directory, whichever `path` is. */
export async function openFile(path: string, opts: OpenImageOptions = {}): Promise<Image | ImageIndex> {
  const format = await sniffFormat(path);
  const signal = opts.signal ? { signal: opts.signal } : {};
  const ref = opts.tag !== undefined ? { ref: opts.tag } : {};
  switch (format) {
    case 'docker-archive':
    case 'combined': // a docker archive that is an OCI layout too: its manifest.json knows the tags
      return readDockerArchive(path, { ...signal, ...(opts.tag !== undefined ? { tag: opts.tag } : {}) });
    case 'oci-layout':
      return readOciLayout(path, { ...signal, ...ref });
    case 'oci-archive':
      return readOciArchive(path, { ...signal, ...ref });
    default:
      // The archive reader says best what is wrong with a file (compressed, truncated, not a tar).
      if ((await kind(path)) === 'file') return readDockerArchive(path, signal);
      throw new UnknownImageSourceError(
        path,
        'the directory is not an OCI image layout (no oci-layout file)',
      );
  }
}

/**
 * Open an image from wherever `input` says: a path that exists is read as a file format
 * (sniffed), anything else is an image reference (remote, lazy: manifest and config only).
 */
export async function openImage(
  input: string,
  opts: OpenImageOptions & { platform: 'all' },
): Promise<Image | ImageIndex>;
export async function openImage(input: string, opts?: OpenImageOptions): Promise<Image>;
export async function openImage(input: string, opts: OpenImageOptions = {}): Promise<Image | ImageIndex> {
  const all = opts.platform === 'all';
  const platform = all ? undefined : (opts.platform as Platform | string | undefined);
  if ((await kind(input)) !== undefined) {
    const got = await openFile(input, opts);
    return got.kind === 'index' && !all ? imageForPlatform(got, platform) : got;
  }
  const ref = tryParseReference(input);
  if (!ref) throw new UnknownImageSourceError(input, 'no such file, and not a valid image reference');
  if (all) return remoteGet(ref, opts);
  return remoteImage(ref, { ...opts, ...(platform !== undefined ? { platform } : {}) });
}
