/** One package of a conda environment, from its `conda-meta/<name>-<version>-<build>.json`. */
export interface CondaRecord {
  name: string;
  version: string;
  build?: string | undefined;
  /** `https://conda.anaconda.org/conda-forge/linux-64` as conda writes it, or a bare name. */
  channel?: string | undefined;
  subdir?: string | undefined;
  license?: string | undefined;
  /** `.conda` or `.tar.bz2`, from the package file name. */
  type?: string | undefined;
  sha256?: string | undefined;
  /** The environment's prefix, absolute (`/opt/conda`). */
  prefix: string;
}

/** A conda-meta record of any environment, wherever its prefix is (not `history`, not a subdirectory). */
export function isCondaMeta(path: string): boolean {
  return /(^|\/)conda-meta\/[^/]+\.json$/.test(path);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The fields of a conda-meta record that name the package; undefined for a file that is not one. */
export function parseCondaMeta(path: string, text: string): CondaRecord | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const r = json as Record<string, unknown>;
  const name = str(r.name);
  const version = str(r.version);
  if (!name || !version) return undefined;
  const fn = str(r.fn) ?? str(r.url);
  const type = fn?.endsWith('.conda') ? 'conda' : fn?.endsWith('.tar.bz2') ? 'tar.bz2' : undefined;
  const dir = path.slice(0, path.lastIndexOf('/conda-meta/') + 1);
  return {
    name,
    version,
    build: str(r.build),
    channel: str(r.channel),
    subdir: str(r.subdir),
    license: str(r.license),
    type,
    sha256: str(r.sha256),
    prefix: `/${dir.replace(/\/$/, '')}`.replace(/^\/$/, '/'),
  };
}
