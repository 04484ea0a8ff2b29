/** One package of Alpine's installed database. */
export interface ApkRecord {
  name: string;
  version: string;
  arch?: string | undefined;
  license?: string | undefined;
  origin?: string | undefined;
  maintainer?: string | undefined;
  homepage?: string | undefined;
  summary?: string | undefined;
}

/** apk's database of installed packages. */
export const APK_INSTALLED = 'lib/apk/db/installed';

/**
 * `/lib/apk/db/installed`: one stanza per package, `X:value` lines (P name, V version, A arch,
 * L license, o origin, m maintainer, U url, T description), the file lists (F, R...) ignored.
 */
export function parseApkInstalled(text: string): ApkRecord[] {
  const out: ApkRecord[] = [];
  let cur: Map<string, string> = new Map();
  const flush = () => {
    const name = cur.get('P');
    const version = cur.get('V');
    if (name && version) {
      out.push({
        name,
        version,
        arch: cur.get('A'),
        license: cur.get('L'),
        origin: cur.get('o'),
        maintainer: cur.get('m'),
        homepage: cur.get('U'),
        summary: cur.get('T'),
      });
    }
    cur = new Map();
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (line[1] !== ':') continue;
    const key = line[0]!;
    if (!cur.has(key)) cur.set(key, line.slice(2));
  }
  flush();
  return out;
}
