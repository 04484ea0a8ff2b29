import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseDigest, tryParseReference } from '@pd/oci-types';
import { defaultCacheDir } from './cache.js';

/** Repositories kept per registry and blob: the newest, enough for a mount to find one that still has it. */
const KEEP = 4;

/**
 * Where blobs were last seen in registries: for a registry and a digest, the repositories that
 * held it (newest first, a few). A push into another repository of that registry mounts the blob
 * from one of them instead of uploading it, as skopeo's blob-info cache lets it do: a copy into
 * a second repository of a registry moves no layer bytes. A hint only: a mount the registry
 * declines costs no extra request (its answer opens the upload), and a record that cannot be read
 * or written is no record. Kept in a cache directory, beside the blob cache's blobs, at
 * `<cache>/locations/<registry>/<algorithm>/<hex>`, one repository per line.
 */
export class BlobLocations {
  /** Where the records are: `locations/` in the cache directory. */
  readonly dir: string;

  constructor(cacheDir: string = defaultCacheDir()) {
    this.dir = join(cacheDir, 'locations');
  }

  private static readonly shared = new Map<string, BlobLocations>();

  /** One instance per directory, for `defaultCacheDir()` as it is now. */
  static default(): BlobLocations {
    const dir = defaultCacheDir();
    let l = BlobLocations.shared.get(dir);
    if (!l) {
      l = new BlobLocations(dir);
      BlobLocations.shared.set(dir, l);
    }
    return l;
  }

  private path(registry: string, digest: string): string | undefined {
    // A registry as references name it (a host, a port): nothing that could climb out of `dir`.
    if (!isLocation(registry, 'x')) return undefined;
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, registry, algorithm, hex);
  }

  /** Repositories of `registry` that held `digest` when pd last saw it there, newest first. */
  async repositories(registry: string, digest: string): Promise<string[]> {
    const path = this.path(registry, digest);
    if (path === undefined) return [];
    const text = await readFile(path, 'utf8').catch(() => '');
    return text.split('\n').filter((r) => r !== '' && isLocation(registry, r));
  }

  /** Note that `registry/repository` holds `digest` (it was pushed, mounted or found there). */
  async remember(registry: string, repository: string, digest: string): Promise<void> {
    const path = this.path(registry, digest);
    if (path === undefined || !isLocation(registry, repository)) return;
    const known = await this.repositories(registry, digest);
    if (known[0] === repository) return;
    const lines = [repository, ...known.filter((r) => r !== repository)].slice(0, KEEP);
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(tmp, `${lines.join('\n')}\n`, { mode: 0o600 });
      // Whole or not at all; of two writers at once the last one wins, which a hint can afford.
      await rename(tmp, path);
    } catch {
      await rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  /**
   * Remove the records not written for `olderThanMs` (default 0: all of them, and the directory
   * with them); how many went. Records are hints, so nothing breaks without them: the next push
   * into a registry uploads what it cannot mount, and notes it again.
   */
  async prune(olderThanMs = 0): Promise<number> {
    const entries = await readdir(this.dir, { recursive: true, withFileTypes: true }).catch(() => []);
    const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
    if (olderThanMs <= 0) {
      await rm(this.dir, { recursive: true, force: true });
      return files.length;
    }
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const path of files) {
      const st = await stat(path).catch(() => undefined);
      if (st === undefined || st.mtimeMs >= cutoff) continue;
      await rm(path, { force: true });
      removed++;
    }
    return removed;
  }
}

/** `registry/repository` is a valid name of a repository, and names exactly these two. */
function isLocation(registry: string, repository: string): boolean {
  const ref = tryParseReference(`${registry}/${repository}`, { defaultTag: false });
  return ref?.registry === registry && ref.repository === repository && ref.tag === undefined;
}
