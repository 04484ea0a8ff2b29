import { field, fields, firstLine, parseStanzas } from './fields.js';

/** One Python distribution, from its core metadata (PEP 566 / 639). */
export interface PythonRecord {
  name: string;
  version: string;
  /** `License-Expression` (PEP 639) when given, else `License`, else the license classifiers. */
  license?: string | undefined;
  summary?: string | undefined;
  homepage?: string | undefined;
  author?: string | undefined;
}

/**
 * Installed distributions: `NAME.dist-info/METADATA` (wheels), `NAME.egg-info/PKG-INFO`
 * (setuptools), and a bare `NAME.egg-info` file (distutils writes PKG-INFO under that name).
 */
export function isPythonMetadata(path: string): boolean {
  return /\.dist-info\/METADATA$/.test(path) || /\.egg-info(\/PKG-INFO)?$/.test(path);
}

/** `License :: OSI Approved :: MIT License` → `MIT License`. */
function classifierLicense(c: string): string | undefined {
  const parts = c.split('::').map((p) => p.trim());
  if (parts[0] !== 'License') return undefined;
  const last = parts.at(-1);
  return last && last !== 'OSI Approved' ? last : undefined;
}

/** The metadata headers (the body after the first blank line is the long description, not read). */
export function parsePythonMetadata(text: string): PythonRecord | undefined {
  const s = parseStanzas(text, { firstOnly: true })[0];
  if (!s) return undefined;
  const name = field(s, 'Name');
  const version = field(s, 'Version');
  if (!name || !version) return undefined;
  const license =
    field(s, 'License-Expression') ??
    firstLine(oneLineLicense(field(s, 'License'))) ??
    (fields(s, 'Classifier').map(classifierLicense).filter(Boolean).join(', ') || undefined);
  const urls = fields(s, 'Project-URL');
  const home = urls.find((u) => /^home\s*page\s*,/i.test(u))?.replace(/^[^,]*,\s*/, '');
  return {
    name,
    version,
    license,
    summary: firstLine(field(s, 'Summary')),
    homepage: field(s, 'Home-page') ?? home,
    author: field(s, 'Author') ?? field(s, 'Author-email'),
  };
}

/** `License:` sometimes holds the whole license text; only a short one-line value names a license. */
function oneLineLicense(v: string | undefined): string | undefined {
  if (!v || v === 'UNKNOWN' || v.includes('\n') || v.length > 100) return undefined;
  return v;
}
