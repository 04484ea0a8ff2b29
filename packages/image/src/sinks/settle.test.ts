import { RegistryError } from '@pd/registry';
import { describe, expect, it } from 'vitest';
import { whileBlobsSettle } from './settle.js';

// distribution answers a manifest PUT whose blobs another upload is rewriting just then with
// these codes (seen in `pd sync` pushing two images that share layers into one repository).
const racing = () =>
  new RegistryError('manifest: DIGEST_INVALID; MANIFEST_BLOB_UNKNOWN', {
    registry: 'r.example',
    status: 400,
    errors: [{ code: 'DIGEST_INVALID' }, { code: 'MANIFEST_BLOB_UNKNOWN' }],
  });

describe('whileBlobsSettle', () => {
  it('puts again while the registry names a blob unknown, then returns what the PUT gave', async () => {
    let calls = 0;
    const got = await whileBlobsSettle(async () => {
      calls++;
      if (calls < 3) throw racing();
      return 'put';
    });
    expect([got, calls]).toEqual(['put', 3]);
  });

  it('gives up after five tries, and at once on any other error', async () => {
    let calls = 0;
    await expect(
      whileBlobsSettle(async () => {
        calls++;
        throw racing();
      }),
    ).rejects.toThrow('MANIFEST_BLOB_UNKNOWN');
    expect(calls).toBe(5);

    calls = 0;
    const denied = new RegistryError('denied', { registry: 'r', status: 403, errors: [{ code: 'DENIED' }] });
    await expect(
      whileBlobsSettle(async () => {
        calls++;
        throw denied;
      }),
    ).rejects.toBe(denied);
    expect(calls).toBe(1);
  });

  it('stops waiting when the signal aborts', async () => {
    const ac = new AbortController();
    const put = whileBlobsSettle(async () => {
      ac.abort(new Error('stop'));
      throw racing();
    }, ac.signal);
    await expect(put).rejects.toThrow('stop');
  });
});
