import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Image, readDockerArchive } from '@pd/image';
import { docker } from '@pd/test-fixtures';

// The images the tests run come from `docker save` of fixture images docker built from local
// files, read back with @pd/image's docker-archive reader.

export type SavedImage = Image;

const archives = new Map<string, Promise<string>>();
let dir: Promise<string> | undefined;

/** Remove the archives saved by this test process (call from afterAll). */
export async function removeSavedArchives(): Promise<void> {
  archives.clear();
  if (dir) await rm(await dir, { recursive: true, force: true });
  dir = undefined;
}

/** `docker save ref` into a temporary docker-archive file (once per ref per process). */
export function savedArchive(ref: string): Promise<string> {
  let p = archives.get(ref);
  if (!p) {
    p = (async () => {
      dir ??= mkdtemp(join(tmpdir(), 'pd-saved-'));
      const archive = join(await dir, `${ref.replace(/[^a-zA-Z0-9._-]/g, '_')}.tar`);
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
