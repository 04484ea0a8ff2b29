import { type Image, layerSources } from '@pd/image';
import type { Ecosystem, OsRelease, PackageInfo } from './model.js';
import { normalizePypiName, purl } from './purl.js';
import { APK_INSTALLED, type ApkRecord, parseApkInstalled } from './readers/apk.js';
import { type CondaRecord, isCondaMeta, parseCondaMeta } from './readers/conda.js';
import { type DebRecord, isDpkgStatus, parseDpkgStatus } from './readers/dpkg.js';
import { OS_RELEASE_PATHS, parseOsRelease } from './readers/os-release.js';
import { isPythonMetadata, type PythonRecord, parsePythonMetadata } from './readers/python.js';
import { type FileReader, type LayerOpener, scanLayers } from './scan.js';

/** What one metadata file says. */
type Found =
  | { kind: 'os'; os: OsRelease }
  | { kind: 'deb'; records: DebRecord[] }
  | { kind: 'apk'; records: ApkRecord[] }
  | { kind: 'conda'; record: CondaRecord }
  | { kind: 'pypi'; record: PythonRecord };

const READER: FileReader<Found> = {
  wants: (path) =>
    OS_RELEASE_PATHS.includes(path) ||
    isDpkgStatus(path) ||
    path === APK_INSTALLED ||
    isCondaMeta(path) ||
    isPythonMetadata(path),
  parse(path, data) {
    const text = data.toString('utf8');
    if (OS_RELEASE_PATHS.includes(path)) {
      const os = parseOsRelease(text);
      return os && { kind: 'os', os };
    }
    if (isDpkgStatus(path)) return { kind: 'deb', records: parseDpkgStatus(text) };
    if (path === APK_INSTALLED) return { kind: 'apk', records: parseApkInstalled(text) };
    if (isCondaMeta(path)) {
      const record = parseCondaMeta(path, text);
      return record && { kind: 'conda', record };
    }
    const record = parsePythonMetadata(text);
    return record && { kind: 'pypi', record };
  },
};

/** What is installed in an image, found by reading its package managers' records. */
export interface Inventory {
  /** The distribution, when `/etc/os-release` names one. */
  os?: OsRelease | undefined;
  /** Sorted by ecosystem, name, version and location. */
  packages: PackageInfo[];
  /** Metadata files that could not be read, one line each. */
  warnings: string[];
}

const ORDER: Record<Ecosystem, number> = { deb: 0, apk: 1, conda: 2, pypi: 3 };

function compare(a: PackageInfo, b: PackageInfo): number {
  const keys = (p: PackageInfo) => [p.name, p.version, p.location, p.arch ?? '', p.purl];
  if (a.ecosystem !== b.ecosystem) return ORDER[a.ecosystem] - ORDER[b.ecosystem];
  const ka = keys(a);
  const kb = keys(b);
  for (let i = 0; i < ka.length; i++) {
    if (ka[i]! !== kb[i]!) return ka[i]! < kb[i]! ? -1 : 1;
  }
  return 0;
}

/** `https://conda.anaconda.org/conda-forge/linux-64` → `conda-forge`; other channels stay URLs, less the subdir. */
function condaChannel(channel: string | undefined, subdir: string | undefined): string | undefined {
  if (!channel) return undefined;
  let c = channel.replace(/\/+$/, '');
  if (subdir && c.endsWith(`/${subdir}`)) c = c.slice(0, -subdir.length - 1);
  const m = /^https?:\/\/(?:conda\.anaconda\.org|repo\.anaconda\.com\/pkgs)\/([^/]+)$/.exec(c);
  return m ? m[1] : c;
}

function packagesOf(path: string, found: Found, os: OsRelease | undefined): PackageInfo[] {
  const location = `/${path}`;
  const distro = os?.versionId ? `${os.id}-${os.versionId}` : undefined;
  switch (found.kind) {
    case 'os':
      return [];
    case 'deb': {
      const ns = os?.id ?? 'debian';
      return found.records.map((r) => ({
        ecosystem: 'deb',
        name: r.name,
        version: r.version,
        purl: purl('deb', ns, r.name, r.version, { arch: r.arch, distro }),
        arch: r.arch,
        summary: r.summary,
        homepage: r.homepage,
        supplier: r.maintainer,
        location,
      }));
    }
    case 'apk': {
      const ns = os?.id ?? 'alpine';
      return found.records.map((r) => ({
        ecosystem: 'apk',
        name: r.name,
        version: r.version,
        purl: purl('apk', ns, r.name, r.version, { arch: r.arch, distro }),
        license: r.license,
        arch: r.arch,
        summary: r.summary,
        homepage: r.homepage,
        supplier: r.maintainer,
        location,
      }));
    }
    case 'conda': {
      const r = found.record;
      return [
        {
          ecosystem: 'conda',
          name: r.name,
          version: r.version,
          purl: purl('conda', undefined, r.name, r.version, {
            build: r.build,
            channel: condaChannel(r.channel, r.subdir),
            subdir: r.subdir,
            type: r.type,
          }),
          license: r.license,
          arch: r.subdir,
          location,
        },
      ];
    }
    case 'pypi': {
      const r = found.record;
      return [
        {
          ecosystem: 'pypi',
          name: r.name,
          version: r.version,
          purl: purl('pypi', undefined, normalizePypiName(r.name), r.version),
          license: r.license,
          summary: r.summary,
          homepage: r.homepage,
          supplier: r.author,
          location,
        },
      ];
    }
  }
}

/**
 * The inventory of a stack of layer tars (lowest first), each opened when its turn comes. This
 * is `inventoryOf` without an `Image`: for layers on disk or made in memory.
 */
export async function inventoryOfLayers(
  layers: readonly LayerOpener[],
  options: { signal?: AbortSignal } = {},
): Promise<Inventory> {
  const { files, warnings } = await scanLayers(layers, READER, options);
  let os: OsRelease | undefined;
  for (const p of OS_RELEASE_PATHS) {
    const f = files.get(p);
    if (f?.kind === 'os') {
      os = f.os;
      break;
    }
  }
  const packages: PackageInfo[] = [];
  for (const [path, found] of files) packages.push(...packagesOf(path, found, os));
  packages.sort(compare);
  // One record listed twice in one file (a status.d copy...) is one package.
  const unique = packages.filter((p, i) => {
    const q = packages[i - 1];
    return !q || compare(p, q) !== 0;
  });
  return { os, packages: unique, warnings };
}

/**
 * What is installed in `image`, read from its layers without running it. The records read are
 * dpkg's (`/var/lib/dpkg/status`, `status.d/`), apk's (`/lib/apk/db/installed`), conda
 * environments' (`conda-meta/*.json` under any prefix) and Python distributions'
 * (`*.dist-info/METADATA`, `*.egg-info`). Layers stream one after the other; whiteouts of upper
 * layers are honoured.
 */
export async function inventoryOf(image: Image, options: { signal?: AbortSignal } = {}): Promise<Inventory> {
  // A registry's layers are fetched into the cache side by side, each read from there (layerSources).
  const { sources, close } = layerSources(await image.layers(), { signal: options.signal });
  try {
    return await inventoryOfLayers(sources, options);
  } finally {
    close();
  }
}
