import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { missingTools } from './tools.js';

const execFileP = promisify(execFile);

/**
 * A local conda channel made from files with independent tools (GNU tar, bzip2, zstd, zip): no
 * conda, no internet. Packages follow the conda package format: `info/index.json`,
 * `info/paths.json` (or the legacy `info/files` + `info/has_prefix`), `info/link.json` for
 * `noarch: python`, in a `.tar.bz2` or a `.conda` zip of `info-*.tar.zst` and `pkg-*.tar.zst`.
 */

/** The placeholder conda-build used in old packages (and the default of `has_prefix` lines without one). */
export const CONDA_TEXT_PLACEHOLDER = '/opt/anaconda1anaconda2anaconda3';
/** A long build-prefix placeholder like conda-build's, for binary files (the install prefix must be shorter). */
export const CONDA_BINARY_PLACEHOLDER = `/opt/conda-bld/pd-fixture_1700000000000/_h_env${'_placehold'.repeat(16)}`;

/** Skip reason when the tools that build packages are missing. */
export function condaToolsMissing(): string | undefined {
  return missingTools('tar', 'bzip2', 'zstd', 'zip');
}

export type CondaFile =
  | string
  | Uint8Array
  | { data: string | Uint8Array; mode?: number }
  | { symlink: string };

export interface CondaPackageSpec {
  name: string;
  version: string;
  /** Default `h0000000_<buildNumber>` (`pyh0000000_<n>` for noarch python). */
  build?: string;
  buildNumber?: number;
  /** Default `noarch` when `noarch` is set, else `linux-64`. */
  subdir?: 'linux-64' | 'noarch';
  noarch?: 'python' | 'generic';
  /** Default `tar.bz2`. */
  format?: 'tar.bz2' | 'conda';
  depends?: string[];
  /** Files by path relative to the prefix (for noarch python: `site-packages/...`, `python-scripts/...`). */
  files: Record<string, CondaFile>;
  /** Files holding a prefix placeholder: text ones use {@link CONDA_TEXT_PLACEHOLDER}, binary ones {@link CONDA_BINARY_PLACEHOLDER}. */
  prefixFiles?: Record<string, 'text' | 'binary'>;
  /** `noarch: python` console scripts, `name = module:function`. */
  entryPoints?: string[];
  /** Write only the legacy `info/files` and `info/has_prefix`, no `info/paths.json`. */
  legacyMetadata?: boolean;
  /** Publish a wrong sha256 for this package in repodata.json. */
  corruptSha256?: boolean;
}

export interface BuiltCondaPackage {
  spec: CondaPackageSpec;
  filename: string;
  subdir: string;
  build: string;
  path: string;
  /** The real checksums of the file (repodata may lie, see `corruptSha256`). */
  sha256: string;
  md5: string;
  size: number;
}

export interface CondaChannel {
  dir: string;
  /** `file://` URL of the channel. */
  url: string;
  packages: BuiltCondaPackage[];
  /** Package by `name-version`. */
  get(nameVersion: string): BuiltCondaPackage;
}

function defaultBuild(spec: CondaPackageSpec): string {
  const n = spec.buildNumber ?? 0;
  return spec.build ?? (spec.noarch === 'python' ? `pyh0000000_${n}` : `h0000000_${n}`);
}

function bytesOf(data: string | Uint8Array): Buffer {
  return typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
}

const hex = (algo: string, data: Uint8Array) => createHash(algo).update(data).digest('hex');

async function hashFile(path: string): Promise<{ sha256: string; md5: string; size: number }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), size };
}

const TAR_FLAGS = ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=gnu'];

/** Write one package file into `<channel>/<subdir>/` and describe it. */
export async function buildCondaPackage(
  channelDir: string,
  spec: CondaPackageSpec,
): Promise<BuiltCondaPackage> {
  const build = defaultBuild(spec);
  const subdir = spec.subdir ?? (spec.noarch ? 'noarch' : 'linux-64');
  const format = spec.format ?? 'tar.bz2';
  const stem = `${spec.name}-${spec.version}-${build}`;
  const filename = `${stem}.${format}`;
  const outDir = join(channelDir, subdir);
  const out = join(outDir, filename);
  await mkdir(outDir, { recursive: true });
  const stage = join(channelDir, '.stage', stem);
  await rm(stage, { recursive: true, force: true });
  await mkdir(join(stage, 'info'), { recursive: true });

  const pathsJson: Array<Record<string, unknown>> = [];
  const hasPrefix: string[] = [];
  const names = Object.keys(spec.files).sort();
  for (const rel of names) {
    const file = spec.files[rel]!;
    const target = join(stage, rel);
    await mkdir(dirname(target), { recursive: true });
    const entry: Record<string, unknown> = { _path: rel };
    if (typeof file === 'object' && 'symlink' in file) {
      await symlink(file.symlink, target);
      entry.path_type = 'softlink';
    } else {
      const f = typeof file === 'string' || file instanceof Uint8Array ? { data: file } : file;
      const data = bytesOf(f.data);
      await writeFile(target, data);
      await chmod(target, f.mode ?? 0o644);
      entry.path_type = 'hardlink';
      entry.sha256 = hex('sha256', data);
      entry.size_in_bytes = data.length;
      const mode = spec.prefixFiles?.[rel];
      if (mode) {
        const placeholder = mode === 'text' ? CONDA_TEXT_PLACEHOLDER : CONDA_BINARY_PLACEHOLDER;
        entry.file_mode = mode;
        entry.prefix_placeholder = placeholder;
        hasPrefix.push(spec.legacyMetadata && mode === 'text' ? rel : `${placeholder} ${mode} ${rel}`);
      }
    }
    pathsJson.push(entry);
  }

  const index: Record<string, unknown> = {
    name: spec.name,
    version: spec.version,
    build,
    build_number: spec.buildNumber ?? 0,
    depends: spec.depends ?? [],
    license: 'MIT',
    subdir,
    timestamp: 1700000000000,
  };
  if (subdir === 'linux-64') Object.assign(index, { arch: 'x86_64', platform: 'linux' });
  if (spec.noarch) index.noarch = spec.noarch;
  const info: Record<string, string> = {
    'index.json': `${JSON.stringify(index, null, 2)}\n`,
    files: names.map((n) => `${n}\n`).join(''),
  };
  if (!spec.legacyMetadata)
    info['paths.json'] = `${JSON.stringify({ paths: pathsJson, paths_version: 1 }, null, 2)}\n`;
  if (hasPrefix.length) info.has_prefix = hasPrefix.map((l) => `${l}\n`).join('');
  if (spec.noarch === 'python') {
    info['link.json'] = `${JSON.stringify(
      { noarch: { type: 'python', entry_points: spec.entryPoints ?? [] }, package_metadata_version: 1 },
      null,
      2,
    )}\n`;
  }
  for (const [n, text] of Object.entries(info)) await writeFile(join(stage, 'info', n), text);

  await rm(out, { force: true });
  if (format === 'tar.bz2') {
    await execFileP('tar', [...TAR_FLAGS, '-cjf', out, '-C', stage, 'info', ...names]);
  } else {
    const zipDir = join(stage, '..', `${stem}.zip`);
    await rm(zipDir, { recursive: true, force: true });
    await mkdir(zipDir, { recursive: true });
    await writeFile(join(zipDir, 'metadata.json'), '{"conda_pkg_format_version": 2}\n');
    await execFileP('tar', [
      ...TAR_FLAGS,
      '--zstd',
      '-cf',
      join(zipDir, `info-${stem}.tar.zst`),
      '-C',
      stage,
      'info',
    ]);
    await execFileP('tar', [
      ...TAR_FLAGS,
      '--zstd',
      '-cf',
      join(zipDir, `pkg-${stem}.tar.zst`),
      '-C',
      stage,
      ...(names.length ? names : ['--files-from=/dev/null']),
    ]);
    // Stored entries, like conda-package-handling writes them: the members are compressed already.
    await execFileP(
      'zip',
      ['-0', '-X', '-q', out, 'metadata.json', `info-${stem}.tar.zst`, `pkg-${stem}.tar.zst`],
      {
        cwd: zipDir,
      },
    );
    await rm(zipDir, { recursive: true, force: true });
  }
  await rm(stage, { recursive: true, force: true });
  return { spec, filename, subdir, build, path: out, ...(await hashFile(out)) };
}

/** (Re)write `repodata.json` of `linux-64` and `noarch` from the packages given. */
export async function writeRepodata(channelDir: string, packages: BuiltCondaPackage[]): Promise<void> {
  for (const subdir of ['linux-64', 'noarch']) {
    const tarBz2: Record<string, unknown> = {};
    const conda: Record<string, unknown> = {};
    for (const p of packages.filter((x) => x.subdir === subdir)) {
      const record: Record<string, unknown> = {
        build: p.build,
        build_number: p.spec.buildNumber ?? 0,
        depends: p.spec.depends ?? [],
        license: 'MIT',
        md5: p.spec.corruptSha256 ? hex('md5', Buffer.from('corrupt')) : p.md5,
        name: p.spec.name,
        sha256: p.spec.corruptSha256 ? hex('sha256', Buffer.from('corrupt')) : p.sha256,
        size: p.size,
        subdir,
        timestamp: 1700000000000,
        version: p.spec.version,
      };
      if (p.spec.noarch) record.noarch = p.spec.noarch;
      (p.filename.endsWith('.conda') ? conda : tarBz2)[p.filename] = record;
    }
    await mkdir(join(channelDir, subdir), { recursive: true });
    await writeFile(
      join(channelDir, subdir, 'repodata.json'),
      `${JSON.stringify({ info: { subdir }, packages: tarBz2, 'packages.conda': conda, removed: [], repodata_version: 1 }, null, 1)}\n`,
    );
  }
}

/** Build every package (at most 4 tool runs at once) and write the repodata. */
export async function buildCondaChannel(dir: string, specs: CondaPackageSpec[]): Promise<CondaChannel> {
  await mkdir(dir, { recursive: true });
  const packages: BuiltCondaPackage[] = new Array(specs.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < specs.length; i = next++) packages[i] = await buildCondaPackage(dir, specs[i]!);
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  await rm(join(dir, '.stage'), { recursive: true, force: true });
  await writeRepodata(dir, packages);
  return channelOf(dir, packages);
}

function channelOf(dir: string, packages: BuiltCondaPackage[]): CondaChannel {
  return {
    dir,
    url: pathToFileURL(dir).href,
    packages,
    get(nameVersion) {
      const found = packages.find((p) => `${p.spec.name}-${p.spec.version}` === nameVersion);
      if (!found) throw new Error(`no package ${nameVersion} in the fixture channel`);
      return found;
    },
  };
}

// --- the ready-made packages -------------------------------------------------------------------

const sh = (body: string) => ({ data: `#!/bin/sh\n${body}`, mode: 0o755 });

/**
 * The packages pd's conda tests solve against:
 * - `sh 1.0`: `bin/sh`, a symlink to the base image's `/bin/sh` (so prefix shebangs run in busybox);
 * - `hello 1.0` (.tar.bz2) and `hello 2.0` (.conda): `bin/hello` with a text placeholder in its
 *   shebang and body, printing its own prefix;
 * - `binpkg 1.0` (.conda): `lib/libbin.so`, the binary placeholder in NUL-terminated strings;
 * - `python 3.12.1`: a fake interpreter (`bin/python` is a shell script printing its arguments);
 * - `greet 0.1` (noarch python): a module, a `python-scripts/` file and a `greet` entry point;
 * - the chain `a 1.0 → b >=2,<3 → c`, with `b 3.0` excluded by the constraint and `c 1.0`/`1.1`;
 * - `legacy 1.0`: legacy metadata only (`info/files`, `info/has_prefix` without placeholder);
 * - `withscript 1.0`: ships a post-link script;
 * - `broken 1.0`: repodata lists a wrong sha256.
 */
export function condaFixturePackages(): CondaPackageSpec[] {
  const hello = (version: string, format: 'tar.bz2' | 'conda'): CondaPackageSpec => ({
    name: 'hello',
    version,
    format,
    depends: ['sh'],
    files: {
      'bin/hello': {
        data: `#!${CONDA_TEXT_PLACEHOLDER}/bin/sh\necho "hello ${version} from ${CONDA_TEXT_PLACEHOLDER}"\necho "prefix of $0"\n`,
        mode: 0o755,
      },
      [`share/hello/VERSION`]: `${version}\n`,
    },
    prefixFiles: { 'bin/hello': 'text' },
  });
  const binary = Buffer.concat([
    Buffer.from('\x7fELF-not-really\0'),
    Buffer.from(`${CONDA_BINARY_PLACEHOLDER}/lib\0`),
    Buffer.from('between\0'),
    Buffer.from(`prefix=${CONDA_BINARY_PLACEHOLDER}:${CONDA_BINARY_PLACEHOLDER}/share\0`),
    Buffer.alloc(16, 0xab),
  ]);
  return [
    { name: 'sh', version: '1.0', files: { 'bin/sh': { symlink: '/bin/sh' } } },
    hello('1.0', 'tar.bz2'),
    hello('2.0', 'conda'),
    {
      name: 'binpkg',
      version: '1.0',
      format: 'conda',
      files: { 'lib/libbin.so': { data: binary, mode: 0o755 }, 'lib/libbin.a': 'static archive\n' },
      prefixFiles: { 'lib/libbin.so': 'binary' },
    },
    {
      name: 'python',
      version: '3.12.1',
      depends: ['sh'],
      files: {
        'bin/python': sh('echo "fake python $*"\n'),
        'bin/python3.12': { symlink: 'python' },
        'lib/python3.12/os.py': '# the standard library would be here\n',
      },
    },
    {
      name: 'greet',
      version: '0.1',
      noarch: 'python',
      depends: ['python >=3.8'],
      files: {
        'site-packages/greet/__init__.py': 'def main():\n    print("greetings")\n',
        'site-packages/greet/__pycache__/__init__.cpython-312.pyc': Buffer.from([0x55, 0x0d, 0x0d, 0x0a]),
        'site-packages/greet-0.1.dist-info/METADATA': 'Metadata-Version: 2.1\nName: greet\nVersion: 0.1\n',
        'python-scripts/greet-legacy': sh('echo legacy script\n'),
      },
      entryPoints: ['greet = greet:main', 'greet-loud = greet.cli:shout'],
    },
    { name: 'a', version: '1.0', depends: ['b >=2,<3'], files: { 'share/a.txt': 'a\n' } },
    { name: 'b', version: '2.0', depends: ['c'], files: { 'share/b.txt': 'b 2.0\n' } },
    { name: 'b', version: '2.5', depends: ['c >=1.0'], files: { 'share/b.txt': 'b 2.5\n' } },
    { name: 'b', version: '3.0', depends: ['c'], files: { 'share/b.txt': 'b 3.0\n' } },
    { name: 'c', version: '1.0', files: { 'share/c.txt': 'c 1.0\n' } },
    { name: 'c', version: '1.1', format: 'conda', files: { 'share/c.txt': 'c 1.1\n' } },
    {
      name: 'legacy',
      version: '1.0',
      legacyMetadata: true,
      files: { 'etc/legacy.conf': `root=${CONDA_TEXT_PLACEHOLDER}\n`, 'share/legacy.txt': 'plain\n' },
      prefixFiles: { 'etc/legacy.conf': 'text' },
    },
    {
      name: 'withscript',
      version: '1.0',
      files: { 'bin/.withscript-post-link.sh': sh('echo never run\n'), 'share/withscript.txt': 'x\n' },
    },
    { name: 'broken', version: '1.0', corruptSha256: true, files: { 'share/broken.txt': 'broken\n' } },
  ];
}

/**
 * `count` packages `bench-00`, `bench-01`... (a few files of ~`kib` KiB of text each, half as
 * .conda) and `bench-all`, which depends on every one. `bumped` names packages to publish in a
 * second version 1.1 as well (the solver then picks it).
 */
export function condaBenchPackages(
  count: number,
  options: { kib?: number; bumped?: string[] } = {},
): CondaPackageSpec[] {
  const kib = options.kib ?? 64;
  const specs: CondaPackageSpec[] = [];
  const names: string[] = [];
  const make = (name: string, version: string, i: number): CondaPackageSpec => {
    const files: Record<string, CondaFile> = {};
    for (let f = 0; f < 4; f++) {
      const lines: string[] = [];
      let seed = createHash('sha256').update(`${name}:${version}:${f}`).digest('hex');
      for (let size = 0; size < (kib * 1024) / 4; size += 66) {
        seed = createHash('sha256').update(seed).digest('hex');
        lines.push(`${seed} ${i}`);
      }
      files[`lib/${name}/part${f}.txt`] = `${lines.join('\n')}\n`;
    }
    files[`bin/${name}`] = sh(`echo ${name} ${version}\n`);
    return { name, version, format: i % 2 ? 'conda' : 'tar.bz2', files };
  };
  for (let i = 0; i < count; i++) {
    const name = `bench-${String(i).padStart(2, '0')}`;
    names.push(name);
    specs.push(make(name, '1.0', i));
    if (options.bumped?.includes(name)) specs.push(make(name, '1.1', i));
  }
  specs.push({
    name: 'bench-all',
    version: '1.0',
    depends: names,
    files: { 'share/bench-all.txt': 'all\n' },
  });
  return specs;
}

// --- serving ------------------------------------------------------------------------------------

export interface ServedRequest {
  method: string;
  path: string;
  status: number;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
}

export interface ServedCondaChannel {
  /** `http://127.0.0.1:PORT/<name>` */
  url: string;
  requests: ServedRequest[];
  stop(): Promise<void>;
}

/**
 * Serve a channel directory over loopback HTTP (node:http): ETag (sha256 of the body) and
 * Last-Modified on every file, 304 for matching conditional requests, 404 for anything missing
 * (so the shard / .zst / .bz2 repodata probes fail as on a plain static channel).
 */
export async function serveCondaChannel(dir: string, name = 'channel'): Promise<ServedCondaChannel> {
  const requests: ServedRequest[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    const record: ServedRequest = { method: req.method ?? 'GET', path, status: 404 };
    const inm = req.headers['if-none-match'];
    if (typeof inm === 'string') record.ifNoneMatch = inm;
    const ims = req.headers['if-modified-since'];
    if (typeof ims === 'string') record.ifModifiedSince = ims;
    requests.push(record);
    const prefix = `/${name}/`;
    const rel = path.startsWith(prefix) ? path.slice(prefix.length) : undefined;
    if (rel === undefined || rel.split('/').includes('..') || rel.startsWith('.')) {
      res.writeHead(404).end();
      return;
    }
    const file = join(dir, rel);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    const etag = `"${hex('sha256', await readFile(file))}"`;
    const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString();
    const notModified =
      inm !== undefined
        ? inm === etag
        : typeof ims === 'string' && Date.parse(ims) >= Math.floor(st.mtimeMs / 1000) * 1000;
    record.status = notModified ? 304 : 200;
    if (notModified) {
      res.writeHead(304, { etag, 'last-modified': lastModified }).end();
      return;
    }
    res.writeHead(200, { etag, 'last-modified': lastModified, 'content-length': st.size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/${name}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** True when `path` exists (for tests checking that nothing was written). */
export async function condaPathExists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}
