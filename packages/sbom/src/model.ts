/** The package managers whose records pd reads. */
export type Ecosystem = 'deb' | 'apk' | 'conda' | 'pypi';

/** One installed package, as its package manager recorded it. */
export interface PackageInfo {
  ecosystem: Ecosystem;
  name: string;
  version: string;
  /** Package URL (purl), e.g. `pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12`. */
  purl: string;
  /** The license as the metadata states it (not checked; see `license.ts`). */
  license?: string | undefined;
  /** Architecture or platform subdir (`amd64`, `x86_64`, `linux-64`, `noarch`). */
  arch?: string | undefined;
  /** One line about the package. */
  summary?: string | undefined;
  homepage?: string | undefined;
  /** Who publishes the package (`Maintainer:` of dpkg, `m:` of apk, `Author` of Python). */
  supplier?: string | undefined;
  /** The file the record was read from, absolute (`/var/lib/dpkg/status`). */
  location: string;
}

/** The distribution an image says it is, from `/etc/os-release` (or `/usr/lib/os-release`). */
export interface OsRelease {
  /** `debian`, `ubuntu`, `alpine`... */
  id: string;
  versionId?: string | undefined;
  prettyName?: string | undefined;
}
