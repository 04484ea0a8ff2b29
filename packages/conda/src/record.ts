/** One package of an environment: where it comes from and how to check it. */
export interface CondaPackageRecord {
  name: string;
  version: string;
  build: string;
  buildNumber: number;
  /** `linux-64`, `noarch`... */
  subdir: string;
  /** `numpy-1.26.4-py312h8753938_0.conda` */
  filename: string;
  /** Absolute URL of the archive (http, https or file). */
  url: string;
  /** Channel URL without the subdir, e.g. `https://conda.anaconda.org/conda-forge`. */
  channel: string;
  /** The channel as the user named it (`conda-forge`), for conda-meta and history. */
  channelName: string;
  sha256?: string | undefined;
  md5?: string | undefined;
  size?: number | undefined;
  depends: string[];
  /** MatchSpec the user asked for that selected this package, '' when pulled in as a dependency. */
  requestedSpec?: string;
}

/** `name-version-build` of a package file name (without .conda / .tar.bz2). */
export function stemOf(filename: string): string {
  return filename.replace(/\.(conda|tar\.bz2)$/, '');
}

/** Split `numpy-1.26.4-py312h8753938_0.conda` into name, version and build. */
export function parseFilename(
  filename: string,
): { name: string; version: string; build: string } | undefined {
  if (!/\.(conda|tar\.bz2)$/.test(filename)) return undefined;
  const parts = stemOf(filename).split('-');
  if (parts.length < 3) return undefined;
  const build = parts.pop()!;
  const version = parts.pop()!;
  const name = parts.join('-');
  if (!name || !version || !build) return undefined;
  return { name, version, build };
}
