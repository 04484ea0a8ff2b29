import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PdError } from '@pd/oci-types';
import { TarIndex } from './tar-index.js';

/**
 * What `sniffFormat` finds: a docker archive, an OCI archive or layout, or an archive that is both
 * (`combined`).
 */
export type ImageFileFormat = 'docker-archive' | 'oci-archive' | 'oci-layout' | 'combined';

/**
 * What kind of image file `path` is, found by looking inside (never by its name). A directory with
 * an `oci-layout` file is an OCI layout; a tar with `manifest.json` a docker archive, with
 * `oci-layout` and `index.json` an OCI archive, with both `combined`. Undefined for anything else,
 * including missing paths and compressed archives (the readers explain those).
 */
export async function sniffFormat(path: string): Promise<ImageFileFormat | undefined> {
  let s: Awaited<ReturnType<typeof stat>>;
  try {
    s = await stat(path);
  } catch {
    return undefined;
  }
  if (s.isDirectory()) {
    try {
      return (await stat(join(path, 'oci-layout'))).isFile() ? 'oci-layout' : undefined;
    } catch {
      return undefined;
    }
  }
  if (!s.isFile()) return undefined;
  let archive: TarIndex;
  try {
    archive = await TarIndex.open(path);
  } catch (e) {
    if (e instanceof PdError) return undefined;
    throw e;
  }
  const docker = archive.has('manifest.json');
  const oci = archive.has('oci-layout') && archive.has('index.json');
  if (docker && oci) return 'combined';
  if (docker) return 'docker-archive';
  if (oci) return 'oci-archive';
  return undefined;
}
