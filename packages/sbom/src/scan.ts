import { type LayerInput, readEntries, type TarHeader, whiteoutTarget } from '@pd/tar';

/**
 * What a reader makes of one metadata file it asked for. Parsed as soon as the file is read, so
 * only the small result is held (a conda-meta record lists every file of its package; we keep
 * five fields of it).
 */
export type Parsed<T> = T | undefined;

/** Decides which paths matter and turns their bytes into a result. */
export interface FileReader<T> {
  /** Whether `path` (clean, relative, no leading `/`) is a file this reader wants. */
  wants(path: string): boolean;
  /** The file's meaning; `undefined` when it holds nothing usable. */
  parse(path: string, data: Buffer): Parsed<T>;
}

/** Files larger than this are not read (no package manager writes metadata files this big). */
export const MAX_METADATA_BYTES = 64 * 1024 * 1024;

/** A symlink kept at a wanted path, resolved once every layer is read. */
interface Link {
  kind: 'symlink';
  target: string;
}

type Kept<T> = { kind: 'file'; value: T } | Link;

/** A layer's tar, given as bytes or a stream or opened on demand (compression is detected). */
export type LayerOpener = () => LayerInput | Promise<LayerInput>;

/** `a/./b/../c` and `./a/` → `a/c`, `a`: the path a tar name stands for, relative to the root. */
export function cleanName(name: string): string {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

function resolveLink(from: string, target: string): string {
  return cleanName(target.startsWith('/') ? target : `${parentOf(from)}/${target}`);
}

async function readAll(body: NodeJS.ReadableStream, size: number): Promise<Buffer | undefined> {
  if (size > MAX_METADATA_BYTES) return undefined; // left unread: the reader skips it
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The results of a scan, by path, plus what could not be read. */
export interface ScanResult<T> {
  files: Map<string, T>;
  /** One line per file skipped (too large, a hardlink to a file no reader wanted...). */
  warnings: string[];
}

/**
 * Walk the layers of an image, lowest first, and keep what `reader` makes of the files it wants
 * as they are in the final filesystem. Layers are streamed one entry at a time; only wanted files
 * are read. Each layer's whiteouts (`.wh.NAME`, `.wh..wh..opq`) and its non-directory entries
 * over a lower directory delete what lower layers left, never what the same layer adds; a
 * symlink at a wanted path (`etc/os-release` → `../usr/lib/os-release`) is followed at the end.
 */
export async function scanLayers<T>(
  layers: readonly LayerOpener[],
  reader: FileReader<T>,
  options: { signal?: AbortSignal } = {},
): Promise<ScanResult<T>> {
  let state = new Map<string, Kept<T>>();
  const warnings: string[] = [];
  for (const open of layers) {
    options.signal?.throwIfAborted();
    const added = new Map<string, Kept<T> | null>(); // null: an entry that deletes what lay below
    const deleted = new Set<string>(); // paths whose lower subtree goes
    const opaque = new Set<string>(); // directories whose lower content goes
    // Ancestors of what lower layers left: only an entry at one of these can hide a kept file.
    const lowerDirs = new Set<string>();
    for (const path of state.keys()) {
      for (let p = parentOf(path); p !== ''; p = parentOf(p)) lowerDirs.add(p);
    }
    for await (const { header, body } of readEntries(await open())) {
      const path = cleanName(header.name);
      if (path === '') continue;
      const wh = whiteoutTarget(header.name);
      if (wh) {
        if (wh.kind === 'opaque') opaque.add(wh.dir);
        else deleted.add(wh.path);
        continue;
      }
      if (header.type !== 'directory' && lowerDirs.has(path)) deleted.add(path);
      if (!reader.wants(path)) continue;
      added.set(path, await keep(path, header, body, reader, added, state, warnings));
    }
    state = merge(state, added, deleted, opaque);
  }
  const files = new Map<string, T>();
  for (const [path, kept] of state) {
    const value = follow(kept, state);
    if (value !== undefined) files.set(path, value);
  }
  return { files, warnings };
}

async function keep<T>(
  path: string,
  header: TarHeader,
  body: NodeJS.ReadableStream,
  reader: FileReader<T>,
  added: Map<string, Kept<T> | null>,
  lower: Map<string, Kept<T>>,
  warnings: string[],
): Promise<Kept<T> | null> {
  switch (header.type) {
    case 'file': {
      const data = await readAll(body, header.size);
      if (data === undefined) {
        warnings.push(`${path}: ${header.size} bytes, larger than any metadata file; skipped`);
        return null;
      }
      const value = reader.parse(path, data);
      return value === undefined ? null : { kind: 'file', value };
    }
    case 'symlink':
      return { kind: 'symlink', target: resolveLink(path, header.linkname) };
    case 'link': {
      // A hardlink names an earlier entry of the same layer; that one was kept if it was wanted.
      const target = cleanName(header.linkname);
      const found = added.get(target) ?? lower.get(target);
      if (found) return found;
      warnings.push(`${path}: a hardlink to ${target}, which is not a metadata file; skipped`);
      return null;
    }
    default:
      return null; // a directory or device where a metadata file would be: nothing to read
  }
}

/** The lower state less what this layer deletes, plus what it adds. */
function merge<T>(
  lower: Map<string, Kept<T>>,
  added: Map<string, Kept<T> | null>,
  deleted: ReadonlySet<string>,
  opaque: ReadonlySet<string>,
): Map<string, Kept<T>> {
  const out = new Map<string, Kept<T>>();
  const gone = (path: string): boolean => {
    if (deleted.has(path)) return true;
    for (let p = parentOf(path); ; p = parentOf(p)) {
      if (deleted.has(p) || opaque.has(p)) return true;
      if (p === '') return false;
    }
  };
  for (const [path, kept] of lower) {
    if (!added.has(path) && !gone(path)) out.set(path, kept);
  }
  for (const [path, kept] of added) if (kept) out.set(path, kept);
  return out;
}

/** A kept file's value, following symlinks among kept paths (at most 8 hops, as a loop guard). */
function follow<T>(kept: Kept<T>, state: Map<string, Kept<T>>): T | undefined {
  let current: Kept<T> | undefined = kept;
  for (let hops = 0; current && hops < 8; hops++) {
    if (current.kind === 'file') return current.value;
    current = state.get(current.target);
  }
  return undefined;
}
