/**
 * A package URL (purl) from its parts: `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`, as the purl
 * specification (github.com/package-url/purl-spec) writes them. Every component is percent-encoded, qualifiers are sorted by key and empty ones are left out,
 * so the same package always gives the same string.
 */
export function purl(
  type: string,
  namespace: string | undefined,
  name: string,
  version: string | undefined,
  qualifiers: Record<string, string | undefined> = {},
): string {
  const enc = (s: string) => encodeURIComponent(s);
  let out = `pkg:${type}/`;
  if (namespace) out += `${namespace.split('/').map(enc).join('/')}/`;
  out += enc(name);
  if (version) out += `@${enc(version)}`;
  const q = Object.entries(qualifiers)
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k.toLowerCase()}=${enc(v)}`);
  if (q.length > 0) out += `?${q.join('&')}`;
  return out;
}

/** PyPI names compare lowercased with runs of `-`, `_` and `.` as one `-` (PEP 503); purl asks for that form. */
export function normalizePypiName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}
