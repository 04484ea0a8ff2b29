import { createHash } from 'node:crypto';
import { copyFile, link, lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PackageFormatError, UnsafeLinkError } from '../errors.js';
import { readJson } from '../package-cache.js';
import type { CondaPackageRecord } from '../record.js';
import { condaMetaPath, condaMetaRecord, type IndexJson, type PathData } from './conda-meta.js';
import {
  entryPointScript,
  isBytecode,
  noarchPythonPath,
  parseEntryPoint,
  sitePackagesFor,
} from './noarch-python.js';
import { LEGACY_PLACEHOLDER, parseHasPrefix, replaceBinaryPrefix, replaceTextPrefix } from './prefix.js';

export { condaHistory, condaMetaPath, condaMetaRecord, type IndexJson, type PathData } from './conda-meta.js';
export * from './noarch-python.js';
export * from './prefix.js';

/** Options of {@link linkPackage}. */
export interface LinkOptions {
  /** Install prefix inside the image. Default `/opt/conda`. */
  prefix?: string;
  /** Version of the environment's python (for `noarch: python` packages). */
  pythonVersion?: string | undefined;
  /** Return true to leave a file out (its prefix-relative path, after noarch mapping). */
  exclude?: (path: string) => boolean;
}

/** What {@link linkPackage} wrote for one package. */
export interface LinkedPackage {
  record: CondaPackageRecord;
  /** The package's `info/index.json`. */
  index: IndexJson;
  /** Prefix-relative paths written (conda-meta record included). */
  files: string[];
  /** Files left out by the filter or as bytecode. */
  dropped: number;
  /** Scripts conda would have run and pd did not. */
  warnings: string[];
}

interface PathsJsonEntry {
  _path: string;
  path_type?: string;
  sha256?: string;
  size_in_bytes?: number;
  prefix_placeholder?: string;
  file_mode?: string;
  no_link?: boolean;
}

interface LinkJson {
  noarch?: { type?: string; entry_points?: string[] };
}

function checkRelative(filename: string, path: string): string {
  const clean = posix.normalize(path);
  if (
    posix.isAbsolute(clean) ||
    clean === '..' ||
    clean.startsWith('../') ||
    clean === '.' ||
    clean.includes('\0')
  ) {
    throw new UnsafeLinkError(filename, path);
  }
  return clean;
}

const SCRIPT_KINDS = ['pre-link', 'post-link', 'pre-unlink'] as const;

/**
 * Link one extracted package into `staging` (a directory standing for the prefix): files from
 * `info/paths.json` (or legacy `info/files` + `info/has_prefix`), placeholders rewritten,
 * `noarch: python` files moved into site-packages with their entry points, bytecode skipped,
 * and the `conda-meta` record. Package scripts are never run; they are reported.
 */
export async function linkPackage(
  extracted: string,
  record: CondaPackageRecord,
  staging: string,
  options: LinkOptions = {},
): Promise<LinkedPackage> {
  const prefix = (options.prefix ?? '/opt/conda').replace(/\/+$/, '');
  const index = await readJson<IndexJson>(join(extracted, 'info', 'index.json'));
  if (!index) throw new PackageFormatError(record.filename, 'info/index.json is missing or not JSON');
  const linkJson = await readJson<LinkJson>(join(extracted, 'info', 'link.json'));
  const noarchPython = index.noarch === 'python' || linkJson?.noarch?.type === 'python';
  let sitePackages = '';
  if (noarchPython) {
    if (!options.pythonVersion) {
      throw new PackageFormatError(
        record.filename,
        'is a noarch: python package but the environment has no python',
      );
    }
    sitePackages = sitePackagesFor(options.pythonVersion);
  }

  let entries: PathsJsonEntry[];
  const pathsJson = await readJson<{ paths?: PathsJsonEntry[] }>(join(extracted, 'info', 'paths.json'));
  if (pathsJson?.paths) entries = pathsJson.paths;
  else {
    const files = await readFile(join(extracted, 'info', 'files'), 'utf8').catch(() => undefined);
    if (files === undefined)
      throw new PackageFormatError(record.filename, 'has neither info/paths.json nor info/files');
    const hasPrefix = await readFile(join(extracted, 'info', 'has_prefix'), 'utf8').catch(() => '');
    const placeholders = new Map(parseHasPrefix(hasPrefix).map((p) => [p.path, p]));
    entries = files
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((path) => {
        const p = placeholders.get(path);
        return p ? { _path: path, prefix_placeholder: p.placeholder, file_mode: p.mode } : { _path: path };
      });
  }

  const realDirs = new Set<string>(['']);
  // Writes must never follow a symlink the package itself created (`lib -> /etc`, then `lib/passwd`).
  const ensureDir = async (rel: string) => {
    const parts = rel === '' ? [] : rel.split('/');
    let cur = '';
    for (const part of parts) {
      cur = cur ? `${cur}/${part}` : part;
      if (realDirs.has(cur)) continue;
      const st = await lstat(join(staging, cur)).catch(() => undefined);
      if (!st) await mkdir(join(staging, cur));
      else if (!st.isDirectory()) throw new UnsafeLinkError(record.filename, cur);
      realDirs.add(cur);
    }
  };

  const paths: PathData[] = [];
  const warnings: string[] = [];
  let dropped = 0;
  const links: Array<{ dest: string; target: string; entry: PathsJsonEntry }> = [];
  await mkdir(staging, { recursive: true });
  for (const entry of entries) {
    const source = checkRelative(record.filename, entry._path);
    if (noarchPython && isBytecode(source)) {
      dropped++;
      continue;
    }
    const dest = checkRelative(
      record.filename,
      noarchPython ? noarchPythonPath(source, sitePackages) : source,
    );
    if (options.exclude?.(dest)) {
      dropped++;
      continue;
    }
    for (const kind of SCRIPT_KINDS) {
      if (dest === `bin/.${record.name}-${kind}.sh`) {
        warnings.push(
          `${record.name}: has a ${kind} script (bin/.${record.name}-${kind}.sh) that pd does not run`,
        );
      }
    }
    const src = join(extracted, source);
    const st = await lstat(src).catch(() => undefined);
    if (!st) throw new PackageFormatError(record.filename, `lists ${entry._path} but does not contain it`);
    if (entry.path_type === 'directory' || st.isDirectory()) {
      await ensureDir(dest);
      paths.push({ _path: dest, path_type: 'directory' });
      continue;
    }
    if (st.isSymbolicLink()) {
      links.push({ dest, target: await readlink(src), entry });
      continue;
    }
    await ensureDir(posix.dirname(dest) === '.' ? '' : posix.dirname(dest));
    const out = join(staging, dest);
    const pd: PathData = { _path: dest, path_type: 'hardlink' };
    if (entry.sha256) pd.sha256 = entry.sha256;
    if (entry.size_in_bytes !== undefined) pd.size_in_bytes = entry.size_in_bytes;
    if (entry.prefix_placeholder) {
      const mode = entry.file_mode === 'binary' ? 'binary' : 'text';
      const data = await readFile(src);
      const placeholder = entry.prefix_placeholder || LEGACY_PLACEHOLDER;
      const rewritten =
        mode === 'binary'
          ? replaceBinaryPrefix(data, placeholder, prefix, dest)
          : replaceTextPrefix(data, placeholder, prefix);
      await writeFile(out, rewritten, { mode: st.mode & 0o7777, flag: 'wx' });
      pd.prefix_placeholder = placeholder;
      pd.file_mode = mode;
      pd.sha256_in_prefix = createHash('sha256').update(rewritten).digest('hex');
    } else {
      // Hard links: staging costs no copy; the layer tar reads the same bytes.
      try {
        await link(src, out);
      } catch {
        await copyFile(src, out);
      }
    }
    paths.push(pd);
  }
  for (const { dest, target } of links) {
    await ensureDir(posix.dirname(dest) === '.' ? '' : posix.dirname(dest));
    await symlink(target, join(staging, dest));
    paths.push({ _path: dest, path_type: 'softlink' });
  }

  if (noarchPython) {
    for (const spec of linkJson?.noarch?.entry_points ?? []) {
      const ep = parseEntryPoint(spec);
      if (!ep) throw new PackageFormatError(record.filename, `bad entry point ${JSON.stringify(spec)}`);
      const dest = `bin/${ep.command}`;
      if (options.exclude?.(dest)) continue;
      await ensureDir('bin');
      const script = Buffer.from(entryPointScript(ep, prefix));
      await writeFile(join(staging, dest), script, { mode: 0o755 });
      paths.push({
        _path: dest,
        path_type: 'unix_python_entry_point',
        sha256: createHash('sha256').update(script).digest('hex'),
        size_in_bytes: script.length,
      });
    }
  }

  const metaRel = condaMetaPath(record);
  await ensureDir('conda-meta');
  const meta = condaMetaRecord(
    record,
    index,
    paths.filter((p) => p.path_type !== 'directory'),
    prefix,
  );
  await writeFile(join(staging, metaRel), `${JSON.stringify(meta, null, 2)}\n`);
  return { record, index, files: [...paths.map((p) => p._path), metaRel], dropped, warnings };
}
