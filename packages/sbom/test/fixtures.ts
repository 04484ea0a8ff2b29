/**
 * Package manager records written by hand in each tool's own format (dpkg's status file, apk's
 * installed database, conda-meta JSON, Python core metadata), with the fields real ones have.
 */

export const DEBIAN_OS_RELEASE =
  'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n' +
  'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL="https://www.debian.org/"\n';

const BASE_FILES = `Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u5
Replaces: base, dpkg (<= 1.15.0), miscutils
Provides: base
Conffiles:
 /etc/debian_version 4ab2b9f4b8ba1d4d8e1d1b2a3f1a3cf1
 /etc/dpkg/origins/debian c47b6815f67ad1aeccb0d4529bd0fd80
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system, and
 several important miscellaneous files, such as /etc/debian_version.
Homepage: https://tracker.debian.org/pkg/base-files
`;

const BASH = `Package: bash
Essential: yes
Status: install ok installed
Priority: required
Section: shells
Installed-Size: 7163
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Multi-Arch: foreign
Source: bash (5.2.15-2)
Version: 5.2.15-2+b7
Pre-Depends: libc6 (>= 2.36), libtinfo6 (>= 6)
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.
Homepage: http://tiswww.case.edu/php/chet/bash/bashtop.html
`;

const REMOVED = `Package: libfoo1
Status: deinstall ok config-files
Priority: optional
Section: libs
Installed-Size: 52
Maintainer: Nobody <nobody@example.org>
Architecture: amd64
Version: 1:2.0-1
Description: a removed library whose conffiles stay
`;

const UNPACKED = `Package: libbar2
Status: install ok unpacked
Priority: optional
Section: libs
Installed-Size: 80
Maintainer: Nobody <nobody@example.org>
Architecture: amd64
Version: 2.1-3
Description: a library unpacked but not yet configured: its files are there
`;

const CURL = `Package: curl
Status: install ok installed
Priority: optional
Section: web
Installed-Size: 500
Maintainer: Alessandro Ghedini <ghedo@debian.org>
Architecture: amd64
Version: 7.88.1-10+deb12u8
Description: command line tool for transferring data with URL syntax
Homepage: https://curl.se/
`;

/** A status file as dpkg writes it: stanzas separated by blank lines. */
export const DPKG_STATUS = [BASE_FILES, BASH, REMOVED, UNPACKED].join('\n');
export const DPKG_STATUS_AFTER = [BASE_FILES, BASH, CURL].join('\n');

/** What distroless writes into `/var/lib/dpkg/status.d/<package>`: a stanza without Status. */
export const STATUS_D_TZDATA = `Package: tzdata
Version: 2024a-0+deb12u1
Architecture: all
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Installed-Size: 2889
Section: localization
Priority: required
Multi-Arch: foreign
Description: time zone and daylight-saving time data
`;

export const ALPINE_OS_RELEASE =
  'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n' +
  'HOME_URL="https://alpinelinux.org/"\n';

export const APK_INSTALLED = `C:Q1Fk4Hm2QCuRpbDhsaKsLS2DgEwvk=
P:musl
V:1.2.5-r0
A:x86_64
S:411308
I:667648
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1712583640
c:ec5b5a0ef4a4f4a8c8ee4c6b5e8ba1aa00cd5b5a
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1w7WeBKpsK2Bcx9+ZGUx0PJ3ZL5o=
R:libc.musl-x86_64.so.1

C:Q1yB3CVUFMOjnLOOEhI4lS6vbkXgE=
P:ca-certificates-bundle
V:20240705-r0
A:x86_64
S:130034
I:225280
T:Pre generated bundle of Mozilla certificates
U:https://www.mozilla.org/en-US/about/governance/policies/security-group/certs/
L:MPL-2.0 AND MIT
o:ca-certificates
m:Natanael Copa <ncopa@alpinelinux.org>
t:1720173950
c:5c4e7a0d6a1f8a5b5f0e8b3b0d2ad1d1e8b8c4b2
F:etc
F:etc/ssl
R:cert.pem

C:Q1e0Y4Uk9WRVzTcTKPf8tE2N7z8E0=
P:busybox
V:1.36.1-r29
A:x86_64
S:507831
I:926720
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
F:bin
R:busybox
`;

/** A conda-meta record as conda (and pd) write them, trimmed of most of its file list. */
export function condaMeta(name: string, version: string, build: string, license: string): string {
  const fn = `${name}-${version}-${build}.conda`;
  return `${JSON.stringify(
    {
      build,
      build_number: 1,
      channel: 'https://conda.anaconda.org/conda-forge/linux-64',
      constrains: [],
      depends: ['libgcc-ng >=12'],
      extracted_package_dir: `/opt/conda/pkgs/${name}-${version}-${build}`,
      features: '',
      files: [`lib/lib${name}.so`],
      fn,
      license,
      license_family: 'Other',
      link: { source: `/opt/conda/pkgs/${name}-${version}-${build}`, type: 1 },
      md5: '0123456789abcdef0123456789abcdef',
      name,
      paths_data: {
        paths: [{ _path: `lib/lib${name}.so`, path_type: 'hardlink', size_in_bytes: 1 }],
        paths_version: 1,
      },
      requested_spec: '',
      sha256: 'a'.repeat(64),
      size: 1,
      subdir: 'linux-64',
      timestamp: 1716874197000,
      track_features: '',
      url: `https://conda.anaconda.org/conda-forge/linux-64/${fn}`,
      version,
    },
    null,
    1,
  )}\n`;
}

/** Wheel metadata (core metadata 2.4) with a PEP 639 License-Expression. */
export const METADATA_ATTRS = `Metadata-Version: 2.4
Name: attrs
Version: 24.2.0
Summary: Classes Without Boilerplate
Project-URL: Documentation, https://www.attrs.org/
Project-URL: Homepage, https://www.attrs.org/
Author-email: Hynek Schlawack <hs@ox.cx>
License-Expression: MIT
Classifier: Programming Language :: Python :: 3.12
Requires-Python: >=3.7
Description-Content-Type: text/markdown

# attrs

License: this line is the description, not a header.
`;

/** Older metadata: the license only as a classifier. */
export const METADATA_REQUESTS = `Metadata-Version: 2.1
Name: requests
Version: 2.32.3
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
Author: Kenneth Reitz
Author-email: me@kennethreitz.org
License: Apache-2.0
Classifier: License :: OSI Approved :: Apache Software License
Requires-Python: >=3.8

Requests is an elegant and simple HTTP library for Python.
`;

/** A distutils `.egg-info` file (PKG-INFO under the directory's name). */
export const EGG_INFO_SIX = `Metadata-Version: 1.2
Name: six
Version: 1.16.0
Summary: Python 2 and 3 compatibility utilities
Home-page: https://github.com/benjaminp/six
Author: Benjamin Peterson
License: MIT
Classifier: License :: OSI Approved :: MIT License
`;

export const PKG_INFO_CHARDET = `Metadata-Version: 2.1
Name: chardet
Version: 5.1.0
Summary: Universal encoding detector for Python 3
License: LGPL
Classifier: License :: OSI Approved :: GNU Library or Lesser General Public License (LGPL)
`;

export const METADATA_IDNA = `Metadata-Version: 2.1
Name: idna
Version: 3.7
Summary: Internationalized Domain Names in Applications (IDNA)
Classifier: License :: OSI Approved :: BSD License
`;

export const METADATA_TYPING = `Metadata-Version: 2.1
Name: typing_extensions
Version: 4.12.2
Summary: Backported and Experimental Type Hints for Python 3.8+
Classifier: License :: OSI Approved :: Python Software Foundation License
`;
