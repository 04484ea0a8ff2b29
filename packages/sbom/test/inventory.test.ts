import type { Contents } from '@pd/tar';
import { PackageURL } from 'packageurl-js';
import { afterAll, describe, expect, it } from 'vitest';
import { inventoryOf, type PackageInfo } from '../src/index.js';
import {
  ALPINE_OS_RELEASE,
  APK_INSTALLED,
  condaMeta,
  DEBIAN_OS_RELEASE,
  DPKG_STATUS,
  DPKG_STATUS_AFTER,
  EGG_INFO_SIX,
  METADATA_ATTRS,
  METADATA_IDNA,
  METADATA_REQUESTS,
  METADATA_TYPING,
  PKG_INFO_CHARDET,
  STATUS_D_TZDATA,
} from './fixtures.js';
import { imageOf, tempCache } from './helpers.js';

const { cache, cleanup } = tempCache();
afterAll(cleanup);

const SITE = '/opt/conda/lib/python3.12/site-packages';
const DIST = '/usr/lib/python3/dist-packages';

const short = (p: PackageInfo) => `${p.ecosystem} ${p.name} ${p.version} ${p.location}`;

describe('a Debian image with conda and Python packages, over two layers', () => {
  const lower: Contents = {
    '/usr/lib/os-release': DEBIAN_OS_RELEASE,
    '/etc/os-release': { type: 'symlink', linkname: '../usr/lib/os-release' },
    '/var/lib/dpkg/status': DPKG_STATUS,
    '/var/lib/dpkg/status.d/tzdata': STATUS_D_TZDATA,
    '/var/lib/dpkg/status.d/tzdata.md5sums': 'd41d8cd98f00b204e9800998ecf8427e  usr/share/zoneinfo/UTC\n',
    '/opt/conda/conda-meta/history':
      '==> 2024-01-01 00:00:00 <==\n# cmd: pd conda build\n+conda-forge::zlib-1.3.1-h4ab18f5_1\n',
    '/opt/conda/conda-meta/zlib-1.3.1-h4ab18f5_1.json': condaMeta('zlib', '1.3.1', 'h4ab18f5_1', 'Zlib'),
    '/opt/conda/conda-meta/libffi-3.4.2-h7f98852_5.json': condaMeta('libffi', '3.4.2', 'h7f98852_5', 'MIT'),
    '/opt/conda/conda-meta/tzdata-2024a-h0c530f3_0.json': condaMeta(
      'tzdata',
      '2024a',
      'h0c530f3_0',
      'LicenseRef-Public-Domain',
    ),
    [`${SITE}/attrs-24.2.0.dist-info/METADATA`]: METADATA_ATTRS,
    [`${SITE}/attrs-24.2.0.dist-info/RECORD`]: 'attrs/__init__.py,,\n',
    [`${SITE}/requests-2.32.3.dist-info/METADATA`]: METADATA_REQUESTS,
    [`${DIST}/six-1.16.0.egg-info`]: EGG_INFO_SIX,
    [`${DIST}/chardet-5.1.0.egg-info/PKG-INFO`]: PKG_INFO_CHARDET,
  };
  const upper: Contents = {
    // conda remove zlib: its record is whited out.
    '/opt/conda/conda-meta/zlib-1.3.1-h4ab18f5_1.json': { type: 'whiteout' },
    // apt-get install curl, and the removed package's conffiles purged: a new status file.
    '/var/lib/dpkg/status': DPKG_STATUS_AFTER,
    // The directory was replaced: what was below is hidden, what this layer puts there stays.
    [DIST]: { type: 'opaque' },
    [`${DIST}/idna-3.7.dist-info/METADATA`]: METADATA_IDNA,
  };

  it('lists what the top of the stack holds, sorted, with purls and licenses', async () => {
    const inv = await inventoryOf(await imageOf(cache, [lower, upper]));
    expect(inv.os).toEqual({ id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
    expect(inv.warnings).toEqual([]);
    expect(inv.packages.map(short)).toEqual([
      'deb base-files 12.4+deb12u5 /var/lib/dpkg/status',
      'deb bash 5.2.15-2+b7 /var/lib/dpkg/status',
      'deb curl 7.88.1-10+deb12u8 /var/lib/dpkg/status',
      'deb tzdata 2024a-0+deb12u1 /var/lib/dpkg/status.d/tzdata',
      'conda libffi 3.4.2 /opt/conda/conda-meta/libffi-3.4.2-h7f98852_5.json',
      'conda tzdata 2024a /opt/conda/conda-meta/tzdata-2024a-h0c530f3_0.json',
      `pypi attrs 24.2.0 ${SITE}/attrs-24.2.0.dist-info/METADATA`,
      `pypi idna 3.7 ${DIST}/idna-3.7.dist-info/METADATA`,
      `pypi requests 2.32.3 ${SITE}/requests-2.32.3.dist-info/METADATA`,
    ]);
    const byName = new Map(inv.packages.map((p) => [`${p.ecosystem}/${p.name}`, p]));
    expect(byName.get('deb/bash')).toMatchObject({
      purl: 'pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12',
      arch: 'amd64',
      summary: 'GNU Bourne Again SHell',
      supplier: 'Matthias Klose <doko@debian.org>',
    });
    expect(byName.get('deb/tzdata')!.purl).toBe(
      'pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12',
    );
    expect(byName.get('conda/libffi')).toMatchObject({
      purl: 'pkg:conda/libffi@3.4.2?build=h7f98852_5&channel=conda-forge&subdir=linux-64&type=conda',
      license: 'MIT',
      arch: 'linux-64',
    });
    expect(byName.get('pypi/attrs')).toMatchObject({ purl: 'pkg:pypi/attrs@24.2.0', license: 'MIT' });
    expect(byName.get('pypi/requests')).toMatchObject({
      license: 'Apache-2.0',
      homepage: 'https://requests.readthedocs.io',
    });
    expect(byName.get('pypi/idna')!.license).toBe('BSD License');
  });

  it('reads the lower layer alone as it was: the removed package, six and chardet are there', async () => {
    const inv = await inventoryOf(await imageOf(cache, [lower]));
    const names = inv.packages.map((p) => `${p.ecosystem}/${p.name}`);
    expect(names).toEqual([
      'deb/base-files',
      'deb/bash',
      'deb/libbar2',
      'deb/tzdata',
      'conda/libffi',
      'conda/tzdata',
      'conda/zlib',
      'pypi/attrs',
      'pypi/chardet',
      'pypi/requests',
      'pypi/six',
    ]);
    // dpkg's "deinstall ok config-files" stanza is not an installed package; "unpacked" is.
    expect(names).not.toContain('deb/libfoo1');
  });

  it('gives purls that packageurl-js parses back into the same parts', async () => {
    const inv = await inventoryOf(await imageOf(cache, [lower, upper]));
    for (const p of inv.packages) {
      const parsed = PackageURL.fromString(p.purl);
      expect(parsed.type).toBe(p.ecosystem);
      expect(parsed.version).toBe(p.version);
      expect(parsed.name).toBe(p.ecosystem === 'pypi' ? p.name.toLowerCase() : p.name);
    }
    const typing = await inventoryOf(
      await imageOf(cache, [{ [`${SITE}/typing_extensions-4.12.2.dist-info/METADATA`]: METADATA_TYPING }]),
    );
    // PyPI names in purls are normalized (PEP 503): lowercase, `_` and `.` as `-`.
    expect(typing.packages[0]!.purl).toBe('pkg:pypi/typing-extensions@4.12.2');
  });
});

describe('an Alpine image with a Python wheel', () => {
  it('reads apk’s installed database and the dist-info', async () => {
    const image = await imageOf(cache, [
      {
        '/etc/os-release': ALPINE_OS_RELEASE,
        '/lib/apk/db/installed': APK_INSTALLED,
        '/usr/lib/python3.12/site-packages/attrs-24.2.0.dist-info/METADATA': METADATA_ATTRS,
      },
    ]);
    const inv = await inventoryOf(image);
    expect(inv.os).toMatchObject({ id: 'alpine', versionId: '3.20.3' });
    expect(inv.packages.map((p) => [p.purl, p.license])).toEqual([
      ['pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3', 'GPL-2.0-only'],
      [
        'pkg:apk/alpine/ca-certificates-bundle@20240705-r0?arch=x86_64&distro=alpine-3.20.3',
        'MPL-2.0 AND MIT',
      ],
      ['pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3', 'MIT'],
      ['pkg:pypi/attrs@24.2.0', 'MIT'],
    ]);
    expect(inv.packages[2]).toMatchObject({
      summary: 'the musl c library (libc) implementation',
      homepage: 'https://musl.libc.org/',
      supplier: 'Timo Teräs <timo.teras@iki.fi>',
      location: '/lib/apk/db/installed',
    });
  });
});

describe('whiteouts and replaced paths', () => {
  const meta = (n: string) => `/env/conda-meta/${n}-1.0-0.json`;
  const record = (n: string) => condaMeta(n, '1.0', '0', 'MIT');
  const condaNames = async (layers: Contents[]) =>
    (await inventoryOf(await imageOf(cache, layers))).packages.map((p) => p.name);

  it('a record whited out above is gone, its siblings stay, and a record added again above is back', async () => {
    const base: Contents = { [meta('a')]: record('a'), [meta('b')]: record('b') };
    const removeA: Contents = { [meta('a')]: { type: 'whiteout' } };
    expect(await condaNames([base])).toEqual(['a', 'b']);
    expect(await condaNames([base, removeA])).toEqual(['b']);
    expect(await condaNames([base, removeA, { [meta('a')]: record('a') }])).toEqual(['a', 'b']);
  });

  it('a whiteout of the directory, an opaque directory and a file over the directory each hide the records', async () => {
    const base: Contents = { [meta('a')]: record('a'), '/other/conda-meta/c-1.0-0.json': record('c') };
    expect(await condaNames([base, { '/env': { type: 'whiteout' } }])).toEqual(['c']);
    expect(
      await condaNames([base, { '/env/conda-meta': { type: 'opaque' }, [meta('d')]: record('d') }]),
    ).toEqual(['c', 'd']);
    expect(await condaNames([base, { '/env': { type: 'symlink', linkname: '/other' } }])).toEqual(['c']);
  });

  it('a whiteout hides only what lies below it, not what its own layer adds', async () => {
    const layer: Contents = { [meta('z')]: record('z'), '/env/conda-meta/.wh.y-1.0-0.json': '' };
    expect(await condaNames([{ [meta('y')]: record('y') }, layer])).toEqual(['z']);
  });

  it('a record hardlinked to another in the same layer is read for both paths', async () => {
    const names = await condaNames([
      {
        [meta('a')]: record('a'),
        '/zcopy/conda-meta/a-1.0-0.json': { type: 'link', linkname: 'env/conda-meta/a-1.0-0.json' },
      },
    ]);
    expect(names).toEqual(['a', 'a']);
  });

  it('a status.d written by distroless lists its packages; a later layer deleting one removes it', async () => {
    const base: Contents = {
      '/var/lib/dpkg/status.d/tzdata': STATUS_D_TZDATA,
      '/var/lib/dpkg/status.d/base': 'Package: base-files\nVersion: 12.4\nArchitecture: amd64\n',
    };
    const names = async (layers: Contents[]) =>
      (await inventoryOf(await imageOf(cache, layers))).packages.map((p) => `${p.name} ${p.purl}`);
    expect(await names([base])).toEqual([
      // No os-release: Debian is assumed for dpkg and no distro qualifier is given.
      'base-files pkg:deb/debian/base-files@12.4?arch=amd64',
      'tzdata pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all',
    ]);
    expect(await names([base, { '/var/lib/dpkg/status.d/tzdata': { type: 'whiteout' } }])).toEqual([
      'base-files pkg:deb/debian/base-files@12.4?arch=amd64',
    ]);
  });
});
