import { cleanComponents } from './names.js';

/** Basename prefix that marks a deleted path in a layer (OCI image spec, "Whiteouts"). */
export const WHITEOUT_PREFIX = '.wh.';
/** Basename that makes a directory opaque: lower layers' content of it is hidden. */
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

function basename(name: string): string {
  const trimmed = name.endsWith('/') ? name.slice(0, -1) : name;
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Whether an archive name is a whiteout marker (a plain one or the opaque marker). */
export function isWhiteout(name: string): boolean {
  return basename(name).startsWith(WHITEOUT_PREFIX);
}

/** Whether an archive name is the opaque marker `.wh..wh..opq`, which hides its directory's lower content. */
export function isOpaqueWhiteout(name: string): boolean {
  return basename(name) === OPAQUE_WHITEOUT;
}

/** The whiteout entry name that deletes `path` in a layer: `/a/b` → `a/.wh.b`. */
export function whiteoutPath(path: string): string {
  const parts = cleanComponents(path);
  const name = parts.pop();
  if (name === undefined) throw new RangeError('the root cannot be whited out');
  return [...parts, `${WHITEOUT_PREFIX}${name}`].join('/');
}

/** The opaque marker entry name for directory `dir`: `/a` → `a/.wh..wh..opq`. */
export function opaqueWhiteoutPath(dir: string): string {
  return [...cleanComponents(dir), OPAQUE_WHITEOUT].join('/');
}

/** What a whiteout marker means, with cleaned relative paths. */
export type WhiteoutTarget = { kind: 'delete'; path: string } | { kind: 'opaque'; dir: string };

/**
 * Interpret a whiteout entry name, or undefined when it is not one. Throws `UnsafePathError`
 * for names that climb out of the root, and returns undefined for a malformed `.wh.` with an
 * empty, `.` or `..` target (such an entry must not delete anything).
 */
export function whiteoutTarget(name: string): WhiteoutTarget | undefined {
  const parts = cleanComponents(name, name);
  const base = parts.pop();
  if (base === undefined || !base.startsWith(WHITEOUT_PREFIX)) return undefined;
  if (base === OPAQUE_WHITEOUT) return { kind: 'opaque', dir: parts.join('/') };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') return undefined;
  return { kind: 'delete', path: [...parts, target].join('/') };
}
