import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parse } from 'yaml';
import { EnvironmentFileError, PipNotSupportedError } from './errors.js';

/** What pd takes from an `environment.yml`. */
export interface EnvironmentYml {
  name?: string;
  channels: string[];
  /** Conda MatchSpecs (`numpy>=1.26`, `conda-forge::flask`). */
  dependencies: string[];
  /** `variables:` — set in the image environment. */
  variables: Record<string, string>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parse an environment.yml (`name`, `channels`, `dependencies`, `variables`). A `pip:` section
 * is refused with {@link PipNotSupportedError}: pd never runs pip. `text` may be given instead
 * of reading `file`.
 */
export async function readEnvironmentYml(file: string, text?: string): Promise<EnvironmentYml> {
  const name = basename(file);
  const source = text ?? (await readFile(file, 'utf8'));
  let doc: unknown;
  try {
    doc = parse(source);
  } catch (e) {
    throw new EnvironmentFileError(name, `not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isRecord(doc))
    throw new EnvironmentFileError(name, 'expected a mapping with channels and dependencies');
  const out: EnvironmentYml = { channels: [], dependencies: [], variables: {} };
  if (doc.name !== undefined && doc.name !== null) {
    if (typeof doc.name !== 'string') throw new EnvironmentFileError(name, 'name: expected a string');
    out.name = doc.name;
  }
  if (doc.channels !== undefined && doc.channels !== null) {
    if (!Array.isArray(doc.channels)) throw new EnvironmentFileError(name, 'channels: expected a list');
    doc.channels.forEach((c, i) => {
      if (typeof c !== 'string' || !c.trim())
        throw new EnvironmentFileError(name, `channels[${i}]: expected a channel name or URL`);
      out.channels.push(c.trim());
    });
  }
  if (!Array.isArray(doc.dependencies))
    throw new EnvironmentFileError(name, 'dependencies: expected a list of packages');
  const pip: string[] = [];
  doc.dependencies.forEach((d, i) => {
    if (typeof d === 'string' || typeof d === 'number') {
      const spec = String(d).trim();
      if (!spec) throw new EnvironmentFileError(name, `dependencies[${i}]: empty`);
      out.dependencies.push(spec);
    } else if (isRecord(d) && 'pip' in d) {
      const list = Array.isArray(d.pip) ? d.pip.map(String) : [];
      pip.push(...list);
      if (list.length === 0) pip.push('(empty pip section)');
    } else {
      throw new EnvironmentFileError(name, `dependencies[${i}]: expected a package spec`);
    }
  });
  if (pip.length) throw new PipNotSupportedError(pip);
  if (out.dependencies.length === 0) throw new EnvironmentFileError(name, 'dependencies: lists no packages');
  if (isRecord(doc.variables)) {
    for (const [k, v] of Object.entries(doc.variables)) out.variables[k] = String(v);
  }
  return out;
}
