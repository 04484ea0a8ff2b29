import { createReadStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import unbzip2 from 'unbzip2-stream';
import { PackageFormatError } from '../errors.js';

/**
 * The tar inside a `.tar.bz2` package, decompressed as it streams (pure JS, no native bzip2).
 * unbzip2-stream is an old-style `through` stream (no async iteration, errors as strings), so
 * its output is handed on through a modern PassThrough with errors made typed.
 */
export function openTarBz2(file: string, filename: string): Readable {
  const source = createReadStream(file);
  const bunzip = unbzip2();
  const out = new PassThrough();
  const fail = (e: unknown) => {
    source.destroy();
    out.destroy(
      e instanceof Error && 'code' in e
        ? e
        : new PackageFormatError(filename, `corrupt bzip2 data (${String(e)})`, e),
    );
  };
  source.on('error', fail);
  bunzip.on('error', fail);
  out.on('close', () => source.destroy());
  source.pipe(bunzip).pipe(out);
  return out;
}
