import { field, firstLine, parseStanzas } from './fields.js';

/** One package of a dpkg database, before the distribution (for the purl) is known. */
export interface DebRecord {
  name: string;
  version: string;
  arch?: string | undefined;
  source?: string | undefined;
  maintainer?: string | undefined;
  homepage?: string | undefined;
  summary?: string | undefined;
}

/** dpkg's database, and the one-file-per-package directory distroless images write instead. */
export function isDpkgStatus(path: string): boolean {
  return path === 'var/lib/dpkg/status' || /^var\/lib\/dpkg\/status\.d\/[^/.]+$/.test(path);
}

/**
 * The installed packages of a dpkg status file: stanzas whose `Status` state (its third word) says
 * the package's files are on disk. `config-files` (removed, conffiles kept) and `not-installed`
 * (purged) stanzas are not packages of the image. A `status.d` file has no `Status` field when
 * written by distroless' tools; there every stanza is installed.
 */
export function parseDpkgStatus(text: string): DebRecord[] {
  const out: DebRecord[] = [];
  for (const s of parseStanzas(text)) {
    const name = field(s, 'Package');
    const version = field(s, 'Version');
    if (!name || !version) continue;
    const status = field(s, 'Status');
    const state = status?.split(/\s+/)[2];
    if (state === 'config-files' || state === 'not-installed') continue;
    out.push({
      name,
      version,
      arch: field(s, 'Architecture'),
      source: field(s, 'Source'),
      maintainer: field(s, 'Maintainer'),
      homepage: field(s, 'Homepage'),
      summary: firstLine(field(s, 'Description')),
    });
  }
  return out;
}
