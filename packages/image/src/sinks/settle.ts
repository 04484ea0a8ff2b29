import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from '@pd/registry';

/**
 * Run a manifest PUT again while the registry says a blob it names is unknown although it was
 * just uploaded: distribution's filesystem storage truncates and rewrites a blob's link in place,
 * so while another upload of the same blob runs (the empty config of every artifact push, the
 * layers two images share when `pd sync` pushes them side by side, another client pushing the
 * same base) the link reads as empty for a moment, and the PUT is refused with
 * MANIFEST_BLOB_UNKNOWN (with DIGEST_INVALID beside it).
 */
export async function whileBlobsSettle<T>(put: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await put();
    } catch (e) {
      const unknown =
        e instanceof RegistryError &&
        (e.codes.includes('MANIFEST_BLOB_UNKNOWN') || e.codes.includes('BLOB_UNKNOWN'));
      if (!unknown || attempt >= 5) throw e;
      signal?.throwIfAborted();
      await sleep(100 * attempt, undefined, { signal });
    }
  }
}
