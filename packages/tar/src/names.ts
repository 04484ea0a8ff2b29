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

/**
 * Compare two paths by their UTF-8 bytes, the order every entry list in pd is sorted by, without
 * encoding them. UTF-8 bytes order as code points do, and so do UTF-16 code units, but for
 * surrogates (characters past U+FFFF): as units they sort below U+E000-U+FFFF, as code points
 * above. So units are compared, and where the first two that differ are both from U+D800 up,
 * ranked as code points. (Two buffers per comparison cost a walk of 20 000 files about 25 ms.)
 */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return x >= 0xd800 && y >= 0xd800 ? codePointRank(x) - codePointRank(y) : x - y;
  }
  return a.length - b.length;
}

/** A unit from U+D800 up, ranked as the code point it starts: surrogates above U+E000-U+FFFF. */
function codePointRank(unit: number): number {
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** Parent of a cleaned relative path ('' for a top-level entry). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}
