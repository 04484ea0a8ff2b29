import type { CondaPackageRecord } from '../record.js';
import { stemOf } from '../record.js';

/** One entry of `paths_data` in a conda-meta record. */
export interface PathData {
  _path: string;
  path_type: 'hardlink' | 'softlink' | 'directory' | 'unix_python_entry_point';
  sha256?: string;
  sha256_in_prefix?: string;
  size_in_bytes?: number;
  prefix_placeholder?: string;
  file_mode?: 'text' | 'binary';
}

/** The fields of a package's `info/index.json` that pd uses. */
export interface IndexJson {
  name: string;
  version: string;
  build: string;
  build_number?: number;
  depends?: string[];
  constrains?: string[];
  license?: string;
  license_family?: string;
  noarch?: string | boolean;
  subdir?: string;
  timestamp?: number;
  features?: string;
  track_features?: string;
}

/** `conda-meta/<name>-<version>-<build>.json`. */
export function condaMetaPath(record: Pick<CondaPackageRecord, 'filename'>): string {
  return `conda-meta/${stemOf(record.filename)}.json`;
}

/**
 * The conda-meta record conda writes when it links a package, so that `conda list` (and conda
 * itself) sees the environment. Host paths are replaced by where conda would keep its package
 * cache inside the image (`<prefix>/pkgs`), which keeps the record the same on every machine.
 */
export function condaMetaRecord(
  record: CondaPackageRecord,
  index: IndexJson,
  paths: PathData[],
  prefix: string,
): Record<string, unknown> {
  const stem = stemOf(record.filename);
  const sorted = [...paths].sort((a, b) => (a._path < b._path ? -1 : a._path > b._path ? 1 : 0));
  const meta: Record<string, unknown> = {
    build: record.build,
    build_number: index.build_number ?? record.buildNumber,
    channel: `${record.channel}/${record.subdir}`,
    constrains: index.constrains ?? [],
    depends: index.depends ?? record.depends,
    extracted_package_dir: `${prefix}/pkgs/${stem}`,
    features: index.features ?? '',
    files: sorted.map((p) => p._path),
    fn: record.filename,
    license: index.license ?? '',
    link: { source: `${prefix}/pkgs/${stem}`, type: 1 },
    md5: record.md5 ?? '',
    name: record.name,
    package_tarball_full_path: `${prefix}/pkgs/${record.filename}`,
    paths_data: { paths: sorted, paths_version: 1 },
    requested_spec: record.requestedSpec ?? '',
    sha256: record.sha256 ?? '',
    size: record.size ?? 0,
    subdir: record.subdir,
    timestamp: index.timestamp ?? 0,
    track_features: index.track_features ?? '',
    url: record.url,
    version: record.version,
  };
  if (index.license_family) meta.license_family = index.license_family;
  if (index.noarch) meta.noarch = index.noarch === true ? 'generic' : index.noarch;
  return meta;
}

function historyDate(epochSeconds: number): string {
  return new Date(epochSeconds * 1000)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '');
}

/**
 * `conda-meta/history`: one revision, as conda writes it (conda reads `==> date <==`, `# cmd:`,
 * `+channel::dist` lines and `# update specs:`). With `listPackages: false` the `+` lines are left
 * out: the file then depends on the requested specs only, not on what they solved to, so in a
 * layered image a changed package changes its own layer and nothing else. conda needs the `+`
 * lines only for `conda list --revisions`; `conda list` reads conda-meta/*.json and
 * `conda env export --from-history` reads the specs line.
 */
export function condaHistory(
  packages: CondaPackageRecord[],
  specs: string[],
  epochSeconds: number,
  { listPackages = true }: { listPackages?: boolean } = {},
): string {
  const lines = [`==> ${historyDate(epochSeconds)} <==`, '# cmd: pd (conda environment built without conda)'];
  const sorted = listPackages
    ? [...packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    : [];
  for (const p of sorted) lines.push(`+${p.channelName}/${p.subdir}::${stemOf(p.filename)}`);
  lines.push(`# update specs: ${JSON.stringify(specs)}`);
  return `${lines.join('\n')}\n`;
}
