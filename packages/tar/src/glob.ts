/**
 * A regular expression for a path glob as .gitignore-style filters use them. `*` and `?` stay
 * within a path segment, `**` spans segments, and a pattern without `/` matches the base name
 * anywhere (`*.a` drops every static library); a match also covers everything below it. Paths
 * are relative, `/`-separated.
 */
export function globToRegExp(glob: string): RegExp {
  let g = glob.replace(/^\.?\/+/, '');
  if (!g.includes('/')) g = `**/${g}`;
  let re = '';
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === '*') {
      if (g[i + 1] === '*') {
        const slash = g[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A directory pattern also matches everything under it.
  return new RegExp(`^${re}(?:/.*)?$`);
}

/** A predicate that is true for paths matching any of `globs`. */
export function globMatcher(globs: readonly string[]): (path: string) => boolean {
  const res = globs.map(globToRegExp);
  return (path) => {
    const p = path.replace(/^\/+/, '');
    return res.some((r) => r.test(p));
  };
}
