import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Image, readDockerArchive } from '@pd/image';
import { docker } from '@pd/test-fixtures';

// The images the tests run come from `docker save` of fixture images docker built from local
// files, read back with @pd/image's docker-archive reader.

export type SavedImage = Image;

const archives = new Map<string, Promise<string>>();

/** `docker save ref` into a temporary docker-archive file (once per ref per process). */
export function savedArchive(ref: string): Promise<string> {
  let p = archives.get(ref);
  if (!p) {
    p = (async () => {
      const archive = join(await mkdtemp(join(tmpdir(), 'pd-saved-')), 'image.tar');
      await docker(['save', '-o', archive, ref]);
      return archive;
    })();
    archives.set(ref, p);
  }
  return p;
}

/** The image `docker save ref` wrote, read with @pd/image. */
export async function savedImage(ref: string): Promise<Image> {
  return readDockerArchive(await savedArchive(ref));
}
