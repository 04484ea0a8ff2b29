import { stat } from 'node:fs/promises';
import type { Platform } from '@pd/oci-types';
import { NoSuchImageFileError, UnknownImageSourceError } from './errors.js';
import {
  ImageNotFoundError,
  readDockerArchive,
  readOciArchive,
  readOciLayout,
  sniffFormat,
} from './formats/index.js';
import type { Image, ImageIndex } from './model.js';
import { imageForPlatform } from './platform.js';
import { type RemoteOptions, get as remoteGet, image as remoteImage } from './remote.js';
import {
  type ImageSelector,
  type ImageSource,
  type LocalImageSource,
  type ParseSourceOptions,
  parseImageSource,
} from './transports.js';

/**
 * Options of `openImage` and `openFile`: those of the registry sources and of
 * `parseImageSource`, and which image to pick.
 */
export interface OpenImageOptions extends RemoteOptions, ParseSourceOptions {
  /**
   * Platform to pick from an index (default: the running machine's); 'all' keeps an index as
   * it is (the result may then be an `ImageIndex`).
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

function archiveOptions(select: ImageSelector | undefined, signal: AbortSignal | undefined) {
  return {
    ...(signal ? { signal } : {}),
    ...(select === undefined ? {} : 'index' in select ? { index: select.index } : { tag: select.name }),
  };
}

function layoutOptions(select: ImageSelector | undefined, signal: AbortSignal | undefined) {
  return {
    ...(signal ? { signal } : {}),
    ...(select === undefined ? {} : 'index' in select ? { index: select.index } : { ref: select.name }),
  };
}

/**
 * Open the image a file source names: `oci:`, `oci-archive:`, `docker-archive:` as given, a plain
 * path by what it holds. A missing path is a {@link NoSuchImageFileError}.
 */
export async function openSource(
  source: LocalImageSource,
  opts: { signal?: AbortSignal } = {},
): Promise<Image | ImageIndex> {
  const { path, select } = source;
  const found = await kind(path);
  if (found === undefined) throw new NoSuchImageFileError(path);
  switch (source.transport) {
    case 'oci':
      return readOciLayout(path, layoutOptions(select, opts.signal));
    case 'oci-archive':
      return readOciArchive(path, layoutOptions(select, opts.signal));
    case 'docker-archive':
      return readDockerArchive(path, archiveOptions(select, opts.signal));
  }
  switch (await sniffFormat(path)) {
    case 'docker-archive':
      return readDockerArchive(path, archiveOptions(select, opts.signal));
    case 'combined':
      // A docker archive that is an OCI layout too: manifest.json knows the tags, index.json the
      // ref names; a name missing from the first is looked for in the second.
      try {
        return await readDockerArchive(path, archiveOptions(select, opts.signal));
      } catch (e) {
        if (!(e instanceof ImageNotFoundError) || select === undefined || 'index' in select) throw e;
        return readOciArchive(path, layoutOptions(select, opts.signal)).catch(() => {
          throw e;
        });
      }
    case 'oci-layout':
      return readOciLayout(path, layoutOptions(select, opts.signal));
    case 'oci-archive':
      return readOciArchive(path, layoutOptions(select, opts.signal));
    default:
      // The archive reader says best what is wrong with a file (compressed, truncated, not a tar).
      if (found === 'file') return readDockerArchive(path, archiveOptions(select, opts.signal));
      throw new UnknownImageSourceError(
        path,
        'the directory is not an OCI image layout (no oci-layout file)',
      );
  }
}

/** Read a docker archive, OCI archive or OCI layout directory, whichever `path` is. */
export async function openFile(path: string, opts: OpenImageOptions = {}): Promise<Image | ImageIndex> {
  return openSource(
    { transport: 'file', path, ...(opts.tag !== undefined ? { select: { name: opts.tag } } : {}) },
    opts.signal ? { signal: opts.signal } : {},
  );
}

/**
 * Open an image from wherever `input` says, in the transport syntax of `parseImageSource`
 * (`docker://REF`, `oci:DIR:REF`, `oci-archive:FILE:REF`, `docker-archive:FILE:TAG|@N`, a path,
 * `PATH:SELECTOR`, or a reference). Files are read in place; a reference is remote and lazy
 * (manifest and config only).
 */
export async function openImage(
  input: string | ImageSource,
  opts: OpenImageOptions & { platform: 'all' },
): Promise<Image | ImageIndex>;
export async function openImage(input: string | ImageSource, opts?: OpenImageOptions): Promise<Image>;
export async function openImage(
  input: string | ImageSource,
  opts: OpenImageOptions = {},
): Promise<Image | ImageIndex> {
  const all = opts.platform === 'all';
  const platform = all ? undefined : (opts.platform as Platform | string | undefined);
  let source = typeof input === 'string' ? await parseImageSource(input, opts) : input;
  if (source.transport === 'docker') {
    if (all) return remoteGet(source.ref, opts);
    return remoteImage(source.ref, { ...opts, ...(platform !== undefined ? { platform } : {}) });
  }
  if (opts.tag !== undefined && source.select === undefined)
    source = { ...source, select: { name: opts.tag } };
  const got = await openSource(source, opts.signal ? { signal: opts.signal } : {});
  return got.kind === 'index' && !all ? imageForPlatform(got, platform) : got;
}
