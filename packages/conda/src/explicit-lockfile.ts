import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { EnvironmentFileError } from './errors.js';
import { type CondaPackageRecord, parseFilename } from './record.js';

/**
 * Parse an explicit lockfile (`conda list --explicit [--md5|--sha256]`): `@EXPLICIT`, then one
 * package URL a line, optionally with `#<md5>` or `#sha256:<hex>`. Dependencies are not listed
 * there; they are read from each package's `info/index.json` when it is linked.
 */
export async function readExplicitLockfile(file: string, text?: string): Promise<CondaPackageRecord[]> {
  const name = basename(file);
  const source = text ?? (await readFile(file, 'utf8'));
  const lines = source.split(/\r?\n/);
  let explicit = false;
  const out: CondaPackageRecord[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || (line.startsWith('#') && !explicit)) return;
    if (line.startsWith('#')) return;
    if (line === '@EXPLICIT') {
      explicit = true;
      return;
    }
    if (line.startsWith('@')) return; // other directives (@EXPLICIT is the one that matters)
    if (!explicit)
      throw new EnvironmentFileError(
        name,
        `line ${i + 1}: package before @EXPLICIT`,
        'an explicit lockfile starts with @EXPLICIT',
      );
    const hash = line.indexOf('#');
    const url = (hash < 0 ? line : line.slice(0, hash)).trim();
    const checksum = hash < 0 ? '' : line.slice(hash + 1).trim();
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new EnvironmentFileError(name, `line ${i + 1}: not a URL: ${url}`);
    }
    const parts = parsed.pathname.split('/');
    const filename = decodeURIComponent(parts.pop() ?? '');
    const subdir = parts.pop() ?? '';
    const fields = parseFilename(filename);
    if (!fields || !subdir)
      throw new EnvironmentFileError(name, `line ${i + 1}: not a conda package URL: ${url}`);
    const record: CondaPackageRecord = {
      ...fields,
      buildNumber: Number(/(\d+)$/.exec(fields.build)?.[1] ?? 0),
      subdir,
      filename,
      url,
      channel: url.slice(0, url.length - filename.length - subdir.length - 2),
      channelName: url.slice(0, url.length - filename.length - subdir.length - 2),
      depends: [],
      requestedSpec: '',
    };
    if (/^sha256:[0-9a-f]{64}$/i.test(checksum)) record.sha256 = checksum.slice(7).toLowerCase();
    else if (/^[0-9a-f]{64}$/i.test(checksum)) record.sha256 = checksum.toLowerCase();
    else if (/^[0-9a-f]{32}$/i.test(checksum)) record.md5 = checksum.toLowerCase();
    else if (checksum) throw new EnvironmentFileError(name, `line ${i + 1}: unknown checksum ${checksum}`);
    out.push(record);
  });
  if (!explicit)
    throw new EnvironmentFileError(
      name,
      'no @EXPLICIT line',
      'write it with `conda list --explicit --sha256`',
    );
  if (out.length === 0) throw new EnvironmentFileError(name, 'lists no packages');
  return out;
}

/**
 * The conda subdir an explicit lockfile is for: its `# platform: linux-64` header (conda writes
 * one), else the one subdir its non-noarch packages come from; undefined when neither says.
 */
export async function explicitLockfilePlatform(file: string, text?: string): Promise<string | undefined> {
  const source = text ?? (await readFile(file, 'utf8'));
  const header = /^#\s*platform:\s*(\S+)\s*$/m.exec(source)?.[1];
  if (header) return header;
  const subdirs = new Set(
    (await readExplicitLockfile(file, source)).map((p) => p.subdir).filter((s) => s !== 'noarch'),
  );
  return subdirs.size === 1 ? [...subdirs][0] : undefined;
}
