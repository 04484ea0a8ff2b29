import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { extract, TarFormatError, UnsafePathError } from '@pd/tar';
import { PackageFormatError } from '../errors.js';
import { readJson } from '../package-cache.js';
import { openZipMember, readZipDirectory } from './conda-zip.js';
import { openTarBz2 } from './tar-bz2.js';

export { openZipMember, readZipDirectory, type ZipMember } from './conda-zip.js';
export { openTarBz2 } from './tar-bz2.js';

/** Options of {@link extractPackage}. */
export interface ExtractPackageOptions {
  /** Aborts the extraction (the temporary directory is removed). */
  signal?: AbortSignal;
  /** File name for messages (default the archive's base name; decides the format). */
  filename?: string;
}

const MARKER = '.pd-extracted.json';

/**
 * Unpack a `.conda` or `.tar.bz2` package into `dir` (`info/` and the payload), safely: entries
 * never land outside it (@pd/tar's extract). Unpacked into a temporary sibling and renamed, so
 * `dir` is complete or absent; an already complete `dir` for the same `key` is reused.
 */
export async function extractPackage(
  archive: string,
  dir: string,
  options: ExtractPackageOptions & { key?: string } = {},
): Promise<string> {
  const filename = options.filename ?? basename(archive);
  const key = options.key ?? filename;
  const marker = await readJson<{ key: string }>(join(dir, MARKER));
  if (marker?.key === key) return dir;
  await mkdir(dirname(dir), { recursive: true });
  const tmp = `${dir}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const xopts = {
    ...(options.signal ? { signal: options.signal } : {}),
    onUnsafe: 'throw' as const,
    whiteouts: 'keep' as const,
  };
  try {
    try {
      if (filename.endsWith('.conda')) {
        const members = await readZipDirectory(archive, filename);
        const parts = members.filter((m) => /^(info|pkg)-.*\.tar\.zst$/.test(m.name));
        if (!parts.some((m) => m.name.startsWith('info-'))) {
          throw new PackageFormatError(filename, 'no info-*.tar.zst member');
        }
        for (const m of parts) await extract(await openZipMember(archive, filename, m), tmp, xopts);
      } else if (filename.endsWith('.tar.bz2')) {
        await extract(openTarBz2(archive, filename), tmp, xopts);
      } else {
        throw new PackageFormatError(filename, 'not a .conda or .tar.bz2 file');
      }
    } catch (e) {
      if (e instanceof TarFormatError) throw new PackageFormatError(filename, e.message, e);
      if (e instanceof UnsafePathError) throw e;
      throw e;
    }
    await writeFile(join(tmp, MARKER), JSON.stringify({ key }));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    return dir;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
