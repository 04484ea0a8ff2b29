import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidReferenceError, parseReference, type Reference } from '@pd/oci-types';
import { ImageSourceSyntaxError, NoSuchImageFileError } from './errors.js';

// Where an image is, written as skopeo users write it:
//   docker://REF                       a registry
//   oci:DIR[:REF]                      an OCI layout directory, entry REF of its index.json
//   oci-archive:FILE[:REF]             the same as a tar
//   docker-archive:FILE[:TAG|:@N]      a `docker save` tar, image TAG or the N-th (0-based) of manifest.json
// and the plain forms pd always took: a path that exists (its format sniffed), `PATH:SELECTOR` when
// PATH exists, and anything else as a registry reference. As in skopeo, a transport's path ends at
// the first colon (so a REF may hold colons: `docker-archive:x.tar:app:1`).

/** Transport names, as skopeo spells them. */
export type ImageTransport = 'docker' | 'oci' | 'oci-archive' | 'docker-archive';

/** Which image of a file: a name (RepoTag, ref.name) or a position (`@N`). */
export type ImageSelector = { name: string } | { index: number };

/**
 * Where an image is, as `parseImageSource` reads it: a registry reference, a file or layout
 * of a given transport, or a plain path whose format is sniffed.
 */
export type ImageSource =
  | { transport: 'docker'; ref: Reference }
  | { transport: 'oci' | 'oci-archive' | 'docker-archive'; path: string; select?: ImageSelector }

  /** A plain path: the format is found by looking inside the file. */
  | { transport: 'file'; path: string; select?: ImageSelector };

/** An `ImageSource` on the local filesystem (every transport but `docker`). */
export type LocalImageSource = Exclude<ImageSource, { transport: 'docker' }>;

/** Options of `parseImageSource`. */
export interface ParseSourceOptions {
  /** Directory relative paths are taken from (default: the process's working directory). */
  cwd?: string;
}

const FILE_TRANSPORTS = ['oci', 'oci-archive', 'docker-archive'] as const;
type FileTransport = (typeof FILE_TRANSPORTS)[number];
const DOCKER_PREFIX = 'docker://';

/** `@N` picks by position; anything else by name. */
function parseSelector(text: string, input: string): ImageSelector | undefined {
  if (text === '') return undefined;
  if (!text.startsWith('@')) return { name: text };
  if (!/^@\d+$/.test(text)) {
    throw new ImageSourceSyntaxError(input, `"${text}" is not a position; write @0 for the first image`);
  }
  return { index: Number(text.slice(1)) };
}

/** `transport:PATH[:SELECTOR]`, split at the first colon after the transport (as skopeo does). */
function splitTransport(input: string): Extract<ImageSource, { transport: FileTransport }> | undefined {
  for (const transport of FILE_TRANSPORTS) {
    const prefix = `${transport}:`;
    if (!input.startsWith(prefix)) continue;
    const rest = input.slice(prefix.length);
    const colon = rest.indexOf(':');
    const path = colon < 0 ? rest : rest.slice(0, colon);
    if (path === '') throw new ImageSourceSyntaxError(input, `${transport}: needs a path`);
    const select = colon < 0 ? undefined : parseSelector(rest.slice(colon + 1), input);
    return { transport, path, ...(select ? { select } : {}) };
  }
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A file (any: the readers say what is wrong with it) or an OCI layout directory. */
async function holdsImages(path: string): Promise<boolean> {
  try {
    const s = await stat(path);
    return s.isFile() || (s.isDirectory() && (await stat(join(path, 'oci-layout'))).isFile());
  } catch {
    return false;
  }
}

/**
 * A string the user surely meant as a path, so that a missing one gets "no such file or directory"
 * and not a registry lookup: an explicit path (`/`, `./`, `../`, `~`) or an archive's file name.
 * (`app.tar` is also a valid repository name on Docker Hub, but nobody names an image so.)
 */
export function looksLikePath(input: string): boolean {
  return (
    input === '.' ||
    input === '..' ||
    /^(?:\/|\.\.?\/|~)/.test(input) ||
    /\.(?:tar|tar\.gz|tgz|tar\.zst|oci)(?::[^/]*)?$/i.test(input)
  );
}

/**
 * Read where an image is, written in transport syntax (`docker://REF`, `oci:DIR[:REF]`,
 * `oci-archive:FILE[:REF]`, `docker-archive:FILE[:TAG|:@N]`, a path, `PATH:SELECTOR`, or a
 * reference), into an `ImageSource`. Plain forms are checked against the filesystem:
 * a path that exists wins over a registry reference of the same spelling (write `docker://` to
 * force the registry), and `PATH:SELECTOR` is a selector only when the whole does not exist and
 * PATH is a file or an OCI layout directory. Relative paths are resolved against `cwd` when it is given.
 */
export async function parseImageSource(
  input: string,
  options: ParseSourceOptions = {},
): Promise<ImageSource> {
  const at = (p: string) => (options.cwd !== undefined ? resolve(options.cwd, p) : p);
  if (input.startsWith(DOCKER_PREFIX)) {
    const text = input.slice(DOCKER_PREFIX.length);
    try {
      return { transport: 'docker', ref: parseReference(text) };
    } catch (e) {
      if (!(e instanceof InvalidReferenceError) || e.hint) throw e;
      throw new InvalidReferenceError(text, problemOf(e), REFERENCE_HINT);
    }
  }
  const explicit = splitTransport(input);
  if (explicit) return { ...explicit, path: at(explicit.path) };
  if (input === '') throw new ImageSourceSyntaxError(input, 'empty');
  if (await exists(at(input))) return { transport: 'file', path: at(input) };
  // The longest prefix before a colon that can hold images is the path: `x.tar:app:1` is x.tar,
  // image app:1. A plain directory does not count: `busybox:1.36` stays a reference beside ./busybox.
  for (let i = input.lastIndexOf(':'); i > 0; i = input.lastIndexOf(':', i - 1)) {
    const path = input.slice(0, i);
    if (!(await holdsImages(at(path)))) continue;
    const select = parseSelector(input.slice(i + 1), input);
    return { transport: 'file', path: at(path), ...(select ? { select } : {}) };
  }
  if (looksLikePath(input)) throw new NoSuchImageFileError(at(input.replace(/:[^/]*$/, '')));
  try {
    return { transport: 'docker', ref: parseReference(input) };
  } catch (e) {
    if (!(e instanceof InvalidReferenceError) || e.hint) throw e;
    // Not a path either (else it would have been found): the hint says how to write each.
    throw new InvalidReferenceError(
      input,
      problemOf(e),
      `${REFERENCE_HINT}; or give a file that exists: PATH[:TAG|:@N], docker-archive:FILE[:TAG|:@N], oci:DIR[:REF], oci-archive:FILE[:REF]`,
    );
  }
}

const REFERENCE_EXAMPLES = 'ubuntu, ghcr.io/org/app:1.2, localhost:5000/app@sha256:<hex>';
const REFERENCE_HINT = `write it as docker does: ${REFERENCE_EXAMPLES}`;

/** What is wrong with a reference, without the `invalid reference "..."` prefix. */
function problemOf(e: InvalidReferenceError): string {
  const m = /^invalid reference "(?:[^"\\]|\\.)*": (.*)$/s.exec(e.message);
  return m ? m[1]! : e.message;
}

/** The source written back in transport syntax, for messages: `docker-archive:x.tar:@1`. */
export function formatImageSource(source: ImageSource): string {
  if (source.transport === 'docker') return `${DOCKER_PREFIX}${source.ref.toString()}`;
  const select = source.select === undefined ? '' : `:${selectorText(source.select)}`;
  return source.transport === 'file'
    ? `${source.path}${select}`
    : `${source.transport}:${source.path}${select}`;
}

/** A selector as written after the path: `@N` or the name. */
export function selectorText(select: ImageSelector): string {
  return 'index' in select ? `@${select.index}` : select.name;
}

/** Where a command writes an image: a transport with a path and the name to give the image there. */
export interface ImageDestination {
  /** Undefined for a plain path (the caller decides the format from the name). */
  transport?: FileTransport;
  path: string;
  /** ref.name of a layout entry, or RepoTag of a docker archive. */
  name?: string;
}

/**
 * Read an output: `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE[:TAG]`, or a
 * plain path. Nothing is checked on disk (the path may not exist yet); `@N` has no meaning here.
 */
export function parseImageDestination(output: string): ImageDestination {
  const t = splitTransport(output);
  if (!t) {
    if (output.startsWith(DOCKER_PREFIX)) {
      throw new ImageSourceSyntaxError(output, 'a registry is not a file output; push with -t REF');
    }
    return { path: output };
  }
  if (t.select && 'index' in t.select) {
    throw new ImageSourceSyntaxError(output, 'an output names its image, it cannot pick one by position');
  }
  return { transport: t.transport, path: t.path, ...(t.select ? { name: t.select.name } : {}) };
}
