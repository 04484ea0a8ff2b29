import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import {
  DigestMismatchError,
  DocumentTooLargeError,
  digestOf,
  MediaType,
  parseReference,
  UnsupportedMediaTypeError,
} from '@pd/oci-types';
import {
  dockerMissing,
  type FaultProxy,
  missingTools,
  type RunningRegistry,
  registryMissing,
  startFaultProxy,
  startRegistry,
} from '@pd/test-fixtures';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NotFoundError, RegistryClient, RegistryError } from '../src/index.js';
import { pushWithDocker, type SeededImage, skopeoDigest, skopeoRawManifest } from './helpers.js';

const skip = registryMissing() ?? dockerMissing() ?? missingTools('skopeo');

describe.skipIf(skip)('manifests against the real registry', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let image: SeededImage;
  const client = new RegistryClient({ dockerConfig: false });

  beforeAll(async () => {
    registry = await startRegistry({ extraConfig: 'compatibility:\n  schema1:\n    enabled: true' });
    proxy = await startFaultProxy(registry.url);
    image = await pushWithDocker(registry.host, 'pd/app', 'v1', { busybox: true });
  });
  afterAll(async () => {
    await client.close();
    await proxy?.stop();
    await registry?.stop();
  });

  test('GET by tag: Docker schema 2, digest equal to docker push and skopeo', async () => {
    const m = await client.getManifest(image.ref);
    expect(m.mediaType).toBe(MediaType.DockerManifest);
    expect(m.digest).toBe(image.digest);
    expect(m.digest).toBe(await skopeoDigest(image.ref));
    expect(m.bytes.toString('utf8')).toBe(await skopeoRawManifest(image.ref));
    expect(m.size).toBe(m.bytes.length);
  });

  test('GET by digest verifies the bytes; HEAD agrees without a body', async () => {
    const ref = parseReference(image.ref).withDigest(image.digest);
    const m = await client.getManifest(ref);
    expect(digestOf(m.bytes)).toBe(image.digest);
    const head = await client.headManifest(image.ref);
    expect(head).toEqual({ digest: image.digest, mediaType: MediaType.DockerManifest, size: m.size });
  });

  test('PUT an OCI manifest and an OCI index, read them back by tag with content negotiation', async () => {
    const docker = JSON.parse((await client.getManifest(image.ref)).bytes.toString('utf8'));
    // Same blobs, OCI media types: the registry accepts it since it holds config and layer.
    const oci = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { ...docker.config, mediaType: MediaType.OciConfig },
        layers: docker.layers.map((l: { size: number; digest: string }) => ({
          ...l,
          mediaType: MediaType.OciLayerGzip,
        })),
      }),
    );
    const target = parseReference(`${registry.host}/pd/app:oci`);
    const digest = await client.putManifest(target, oci, MediaType.OciManifest);
    expect(digest).toBe(digestOf(oci));
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          {
            mediaType: MediaType.OciManifest,
            digest,
            size: oci.length,
            platform: { os: 'linux', architecture: 'amd64' },
          },
        ],
      }),
    );
    await client.putManifest(`${registry.host}/pd/app:multi`, index, MediaType.OciIndex);
    const got = await client.getManifest(`${registry.host}/pd/app:multi`);
    expect(got.mediaType).toBe(MediaType.OciIndex);
    expect(got.bytes.equals(index)).toBe(true);
    // A client accepting only image manifests is refused the index (content negotiation is real).
    await expect(
      client.getManifest(`${registry.host}/pd/app:multi`, { accept: [MediaType.DockerManifest] }),
    ).rejects.toThrow();
    expect(await skopeoDigest(`${registry.host}/pd/app:oci`)).toBe(digest);
  });

  test('one after another, requests reuse kept-alive connections (short answers read to their end)', async () => {
    // The ping's tiny body, a HEAD, a PUT's empty 201: a body left unread held its socket, so the
    // next request paid a new connection (a round trip; two with TLS). The first GET goes out
    // beside the ping, on a second connection; every later request finds one of the two free.
    const fresh = new RegistryClient({ dockerConfig: false });
    try {
      proxy.resetStats();
      const m = await fresh.getManifest(`${proxy.host}/pd/app:v1`);
      await fresh.headManifest(`${proxy.host}/pd/app:v1`);
      await fresh.putManifest(`${proxy.host}/pd/app:again`, m.bytes, m.mediaType);
      await fresh.headManifest(`${proxy.host}/pd/app:again`);
      expect(proxy.log.map((r) => `${r.method} ${r.status}`)).toEqual([
        'GET 200',
        'GET 200',
        'HEAD 200',
        'PUT 201',
        'HEAD 200',
      ]);
      expect(new Set(proxy.log.map((r) => r.connection)).size).toBe(2);
    } finally {
      await fresh.close();
    }
  });

  test('a flipped byte in a manifest fetched by tag is caught through Docker-Content-Digest', async () => {
    proxy.inject({ path: /\/manifests\//, method: 'GET', fault: { kind: 'flip-byte', offset: 40 } });
    try {
      const err = await client.getManifest(`${proxy.host}/pd/app:v1`).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DigestMismatchError);
      expect((err as DigestMismatchError).expected).toBe(image.digest);
    } finally {
      proxy.clearFaults();
    }
  });

  test('manifest size is capped before it is buffered', async () => {
    const small = new RegistryClient({ dockerConfig: false, maxManifestSize: 100 });
    const err = await small.getManifest(image.ref).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DocumentTooLargeError);
    expect((err as DocumentTooLargeError).limit).toBe(100);
    await small.close();
  });

  test('unknown tag and unknown repository are NotFoundError with the registry codes', async () => {
    const tag = await client.getManifest(`${registry.host}/pd/app:nope`).catch((e: unknown) => e);
    expect(tag).toBeInstanceOf(NotFoundError);
    expect((tag as NotFoundError).codes).toContain('MANIFEST_UNKNOWN');
    expect((tag as NotFoundError).message).toContain(`${registry.host}/pd/app:nope`);
    expect(await client.headManifest(`${registry.host}/pd/app:nope`)).toBeUndefined();
    const repo = await client.listTags(`${registry.host}/pd/missing`).catch((e: unknown) => e);
    expect(repo).toBeInstanceOf(NotFoundError);
    expect((repo as NotFoundError).codes).toEqual(['NAME_UNKNOWN']);
  });

  test('DELETE by digest removes the manifest; by tag the registry refuses with a clear hint', async () => {
    const pushed = await pushWithDocker(registry.host, 'pd/del', 'x');
    const byTag = await client.deleteManifest(pushed.ref).catch((e: unknown) => e);
    expect(byTag).toBeInstanceOf(RegistryError);
    expect((byTag as RegistryError).message).toContain('by digest only');
    await client.deleteManifest(parseReference(pushed.ref).withDigest(pushed.digest));
    expect(await client.headManifest(pushed.ref)).toBeUndefined();
  });

  test('a legacy schema 1 manifest is refused as unsupported with a hint', async () => {
    const ref = `${registry.host}/pd/app:legacy`;
    const docker = JSON.parse((await client.getManifest(image.ref)).bytes.toString('utf8'));
    const signed = signedSchema1('pd/app', 'legacy', docker.layers[0].digest);
    // Pushed with the registry's own schema 1 support (compatibility.schema1.enabled).
    const res = await fetch(`${registry.url}/v2/pd/app/manifests/legacy`, {
      method: 'PUT',
      headers: { 'content-type': MediaType.DockerManifestV1Signed },
      body: signed,
    });
    expect(res.status, await res.text()).toBe(201);
    const err = await client
      .getManifest(ref, { accept: [MediaType.DockerManifestV1Signed] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedMediaTypeError);
    expect((err as UnsupportedMediaTypeError).message).toMatch(/legacy \(Docker schema 1\) manifest/);
    expect((err as UnsupportedMediaTypeError).hint).toMatch(/re-push/);
  });
});

/**
 * A signed schema 1 manifest (libtrust JWS, ES256), the format distribution verifies on PUT:
 * the signature covers the manifest without signatures; `formatLength`/`formatTail` say how to
 * cut it back out of the signed document.
 */
function signedSchema1(name: string, tag: string, layer: string): string {
  const manifest = JSON.stringify(
    {
      schemaVersion: 1,
      name,
      tag,
      architecture: 'amd64',
      fsLayers: [{ blobSum: layer }],
      history: [
        {
          v1Compatibility: JSON.stringify({
            id: createHash('sha256').update(tag).digest('hex'),
            created: '2020-01-01T00:00:00Z',
          }),
        },
      ],
    },
    null,
    3,
  );
  const tailAt = manifest.lastIndexOf('\n}');
  const payload = manifest.slice(0, tailAt);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const protectedHeader = Buffer.from(
    JSON.stringify({
      formatLength: Buffer.byteLength(payload),
      formatTail: Buffer.from(manifest.slice(tailAt)).toString('base64url'),
      time: '2020-01-01T00:00:00Z',
    }),
  ).toString('base64url');
  const signature = sign(
    'sha256',
    Buffer.from(`${protectedHeader}.${Buffer.from(manifest).toString('base64url')}`),
    { key: privateKey, dsaEncoding: 'ieee-p1363' },
  ).toString('base64url');
  const signatures = [
    {
      header: { jwk: { crv: 'P-256', kty: 'EC', x: jwk.x, y: jwk.y }, alg: 'ES256' },
      signature,
      protected: protectedHeader,
    },
  ];
  return `${payload},\n   "signatures": ${JSON.stringify(signatures, null, 3).replace(/\n/g, '\n   ')}${manifest.slice(tailAt)}`;
}
