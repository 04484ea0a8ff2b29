import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import unbzip2 from 'unbzip2-stream';
import { PackageFormatError } from '../errors.js';

/** The tar inside a `.tar.bz2` package, decompressed as it streams (pure JS, no native bzip2). */
export function openTarBz2(file: string, filename: string): Readable {
  const source = createReadStream(file);
  const tar = unbzip2();
  source.on('error', (e) => tar.destroy(e));
  tar.on('error', (e: unknown) => {
    source.destroy();
    // unbzip2-stream reports corrupt input as a plain string or Error without a code.
    if (!(e instanceof PackageFormatError))
      tar.destroy(new PackageFormatError(filename, `corrupt bzip2 data (${String(e)})`, e));
  });
  return source.pipe(tar);
}
