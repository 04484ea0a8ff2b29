import { UnsafePathError } from './errors.js';

/**
 * Clean an archive or destination path lexically: drop leading `/`, empty and `.` components,
 * resolve `..` against earlier components. Returns the components, or throws
 * {@link UnsafePathError} when `..` would climb above the root.
 */
export function cleanComponents(name: string, original = name): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new UnsafePathError(original, 'climbs above the root with ".."');
      out.pop();
      continue;
    }
    if (part.includes('\0')) throw new UnsafePathError(original, 'contains a NUL byte');
    out.push(part);
  }
  return out;
}

/** `etc/app.conf`-style relative path (no leading or trailing slash); '' for the root. */
export function cleanPath(name: string): string {
  return cleanComponents(name).join('/');
}

/** Compare two paths by their UTF-8 bytes, the order every entry list in pd is sorted by. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Parent of a cleaned relative path ('' for a top-level entry). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}
