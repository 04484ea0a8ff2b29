import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type RunningRegistry, registryMissing, startRegistry } from '../src/index.js';

describe.skipIf(registryMissing())('startRegistry', () => {
  let anon: RunningRegistry;
  let basic: RunningRegistry;
  beforeAll(async () => {
    [anon, basic] = await Promise.all([startRegistry(), startRegistry({ htpasswd: { alice: 's3cret' } })]);
  });
  afterAll(async () => {
    await Promise.all([anon?.stop(), basic?.stop()]);
  });

  test('anonymous registry answers /v2/ with 200', async () => {
    const res = await fetch(`${anon.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  test('htpasswd registry challenges, then accepts the right password only', async () => {
    const none = await fetch(`${basic.url}/v2/`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm="pd-test"/);
    const good = await fetch(`${basic.url}/v2/`, {
      headers: { authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` },
    });
    expect(good.status).toBe(200);
    const bad = await fetch(`${basic.url}/v2/`, {
      headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` },
    });
    expect(bad.status).toBe(401);
  });
});
