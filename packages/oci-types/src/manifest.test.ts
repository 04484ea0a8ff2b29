import { describe, expect, test } from 'vitest';
import { type Descriptor, descriptorOf, validateDescriptor } from './descriptor.js';
import { digestOf, toDigest } from './digest.js';
import { UnsupportedMediaTypeError, ValidationError } from './errors.js';
import {
  configOf,
  type DockerManifest,
  type DockerManifestList,
  indexMediaType,
  isDockerManifest,
  isDockerManifestList,
  layersOf,
  manifestMediaType,
  type OciImageIndex,
  type OciImageManifest,
  toDockerManifest,
  toDockerManifestList,
  toOciIndex,
  toOciManifest,
  validateDockerManifest,
  validateImageIndex,
  validateImageManifest,
  validateOciManifest,
} from './manifest.js';
import { MediaType } from './media-types.js';
import { parseManifest } from './parse.js';

const hex = (c: string) => c.repeat(64);
const desc = (mediaType: string, c: string, size = 10): Descriptor => ({
  mediaType,
  digest: toDigest(`sha256:${hex(c)}`),
  size,
});

const dockerManifest = (): DockerManifest => ({
  schemaVersion: 2,
  mediaType: MediaType.DockerManifest,
  config: desc(MediaType.DockerConfig, 'a'),
  layers: [
    desc(MediaType.DockerLayerGzip, 'b'),
    { ...desc(MediaType.DockerForeignLayer, 'c'), urls: ['https://example.com/layer'] },
  ],
});

const ociManifest = (): OciImageManifest => ({
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: desc(MediaType.OciConfig, 'a'),
  layers: [desc(MediaType.OciLayerGzip, 'b'), desc(MediaType.OciLayerZstd, 'd')],
  annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
});

function problemOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as ValidationError).message;
  }
  throw new Error('expected a ValidationError');
}

describe('validateDescriptor', () => {
  test('accepts all OCI 1.1 fields and keeps unknown ones', () => {
    const data = Buffer.from('{}');
    const d = {
      mediaType: MediaType.OciEmpty,
      digest: digestOf(data),
      size: 2,
      data: data.toString('base64'),
      urls: ['https://example.com/x'],
      annotations: { a: 'b' },
      platform: { os: 'linux', architecture: 'amd64' },
      artifactType: 'application/vnd.example+json',
      'x-extra': { kept: true },
    };
    expect(validateDescriptor(d)).toBe(d);
  });

  test.each([
    [{}, '$.mediaType: is missing'],
    [{ ...desc('x', 'a') }, '$.mediaType: expected a media type like'],
    [
      { ...desc('application/json', 'a'), digest: 'abc' },
      '$.digest: expected a digest like sha256:<64 hex>, got "abc"',
    ],
    [{ ...desc('application/json', 'a'), digest: `sha256:${'A'.repeat(64)}` }, 'lowercase'],
    [{ ...desc('application/json', 'a'), size: -1 }, '$.size: must not be negative, got -1'],
    [{ ...desc('application/json', 'a'), size: 1.5 }, '$.size: expected an integer, got 1.5'],
    [{ ...desc('application/json', 'a'), size: 2 ** 53 }, '$.size: is larger than the largest safe integer'],
    [{ ...desc('application/json', 'a'), size: '10' }, '$.size: expected an integer, got "10"'],
    [{ ...desc('application/json', 'a'), urls: ['not a url'] }, '$.urls[0]: expected a URL'],
    [
      { ...desc('application/json', 'a'), annotations: { a: 1 } },
      '$.annotations.a: expected a string, got 1',
    ],
    [
      { ...desc('application/json', 'a'), annotations: { 'a.b': null } },
      '$.annotations["a.b"]: expected a string, got null',
    ],
    [{ ...desc('application/json', 'a'), platform: { os: 'linux' } }, '$.platform.architecture: is missing'],
    [{ ...desc('application/json', 'a'), data: 'not base64!' }, '$.data: expected standard base64'],
    [{ ...desc('application/json', 'a', 3), data: 'e30=' }, '$.data: holds 2 bytes but size says 3'],
    [{ ...desc('application/json', 'a', 2), data: 'e30=' }, '$.data: does not match the digest'],
    [[], '$: expected an object, got an array'],
    [null, '$: expected an object, got null'],
  ])('%j', (value, message) => {
    expect(problemOf(() => validateDescriptor(value))).toContain(message);
  });

  test('descriptorOf describes bytes', () => {
    const d = descriptorOf('{"a":1}', MediaType.OciConfig, { annotations: { x: 'y' } });
    expect(d).toEqual({
      mediaType: MediaType.OciConfig,
      digest: digestOf('{"a":1}'),
      size: 7,
      annotations: { x: 'y' },
    });
    expect(validateDescriptor(d)).toBe(d);
  });
});

describe('image manifests', () => {
  test('OCI and Docker manifests validate and are told apart by mediaType', () => {
    const d = dockerManifest();
    const o = ociManifest();
    expect(validateImageManifest(d)).toBe(d);
    expect(validateImageManifest(o)).toBe(o);
    expect(isDockerManifest(validateImageManifest(d))).toBe(true);
    expect(isDockerManifest(o)).toBe(false);
    const { mediaType: _omitted, ...bare } = o;
    expect(validateImageManifest(bare)).toBe(bare);
    expect(manifestMediaType(bare as OciImageManifest)).toBe(MediaType.OciManifest);
    expect(manifestMediaType(d)).toBe(MediaType.DockerManifest);
    expect(configOf(d)).toBe(d.config);
    expect(layersOf(o)).toEqual(o.layers);
  });

  test('OCI 1.1 artifact fields', () => {
    const m = {
      ...ociManifest(),
      artifactType: 'application/vnd.example.sbom+json',
      config: { ...desc(MediaType.OciEmpty, '4', 2), data: 'e30=' },
      subject: desc(MediaType.OciManifest, 'e', 500),
    };
    m.config.digest = digestOf('{}');
    expect(validateOciManifest(m)).toBe(m);
    expect(problemOf(() => validateOciManifest({ ...m, subject: { digest: 1 } }))).toContain(
      '$.subject.mediaType: is missing',
    );
    expect(problemOf(() => validateOciManifest({ ...m, artifactType: 'nope' }))).toContain(
      '$.artifactType: expected a media type',
    );
  });

  test('an empty config needs an artifactType (manifest.md: the artifactType MUST be defined)', () => {
    const empty = { mediaType: MediaType.OciEmpty, digest: digestOf('{}'), size: 2 };
    const m = { ...ociManifest(), config: empty };
    expect(problemOf(() => validateOciManifest(m))).toContain(
      '$.artifactType: is missing: a manifest whose config is the empty descriptor',
    );
    expect(problemOf(() => validateImageManifest(m))).toContain('$.artifactType: is missing');
    expect(problemOf(() => parseManifest(JSON.stringify(m)))).toContain('$.artifactType: is missing');
    const artifact = { ...m, artifactType: 'application/vnd.example+type' };
    expect(validateOciManifest(artifact)).toBe(artifact);
    // Any other config type without artifactType stays valid (historic artifacts, images).
    expect(validateOciManifest(ociManifest())).toBeDefined();
  });

  test('digests of unregistered algorithms do not invalidate the document', () => {
    const m = ociManifest();
    const other = {
      ...m,
      layers: [
        { ...m.layers[0]!, digest: 'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8' },
        { ...m.layers[0]!, digest: 'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564' },
      ],
    };
    expect(validateOciManifest(other)).toBe(other);
    // Still malformed: a registered algorithm with the wrong encoding, or broken grammar.
    expect(
      problemOf(() => validateOciManifest({ ...other, config: { ...m.config, digest: 'sha256:AB' } })),
    ).toContain('$.config.digest: expected a digest');
    expect(
      problemOf(() => validateOciManifest({ ...other, config: { ...m.config, digest: 'sha256+-x:ab' } })),
    ).toContain('$.config.digest: expected a digest');
  });

  test('embedded data under an unregistered algorithm is checked for size only', () => {
    const d = {
      mediaType: MediaType.OciEmpty,
      digest: 'sha256+b64u:RBNvo1WzZ4oRRq0W9-hknpT7T8If536DEMBg9hyq_4o',
      size: 2,
      data: 'e30=',
    };
    expect(validateDescriptor(d)).toBe(d);
    expect(problemOf(() => validateDescriptor({ ...d, size: 3 }))).toContain(
      '$.data: holds 2 bytes but size says 3',
    );
  });

  test.each([
    [{ ...ociManifest(), schemaVersion: 1 }, 'invalid image manifest: $.schemaVersion: expected 2, got 1'],
    [{ ...ociManifest(), layers: undefined }, '$.layers: is missing'],
    [{ ...ociManifest(), layers: {} }, '$.layers: expected an array, got an object'],
    [{ ...ociManifest(), config: 'x' }, '$.config: expected an object, got "x"'],
    [
      { ...ociManifest(), mediaType: 'application/json' },
      '$.mediaType: expected application/vnd.oci.image.manifest.v1+json or',
    ],
    [{ ...dockerManifest(), annotations: 'kept, Docker does not define it' }, undefined],
  ])('%#', (value, message) => {
    const v = JSON.parse(JSON.stringify(value));
    if (message === undefined) expect(validateImageManifest(v)).toBe(v);
    else expect(problemOf(() => validateImageManifest(v))).toContain(message);
  });

  test('the message names the document and the deepest path', () => {
    const m = dockerManifest() as unknown as { layers: Array<Record<string, unknown>> };
    m.layers.push({ mediaType: MediaType.DockerLayerGzip, digest: 'abc', size: 1 });
    expect(problemOf(() => validateDockerManifest(m))).toBe(
      'invalid Docker image manifest: $.layers[2].digest: expected a digest like sha256:<64 hex>, got "abc" (not of the form algorithm:hex)',
    );
  });

  test('a Docker manifest needs its mediaType', () => {
    const { mediaType: _m, ...bare } = dockerManifest();
    expect(problemOf(() => validateDockerManifest(bare))).toContain('$.mediaType: is missing');
  });
});

describe('image indexes', () => {
  const list = (): DockerManifestList => ({
    schemaVersion: 2,
    mediaType: MediaType.DockerManifestList,
    manifests: [
      { ...desc(MediaType.DockerManifest, '1'), platform: { os: 'linux', architecture: 'amd64' } },
      {
        ...desc(MediaType.DockerManifest, '2'),
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      },
    ],
  });

  test('validate and tell apart', () => {
    const l = list();
    expect(validateImageIndex(l)).toBe(l);
    expect(isDockerManifestList(l)).toBe(true);
    const oci = toOciIndex(l);
    expect(validateImageIndex(oci)).toBe(oci);
    expect(isDockerManifestList(oci)).toBe(false);
    expect(indexMediaType({ schemaVersion: 2, manifests: [] })).toBe(MediaType.OciIndex);
    expect(
      problemOf(() => validateImageIndex({ ...l, manifests: [{ ...desc('a/b', '1'), size: -5 }] })),
    ).toContain('invalid image index: $.manifests[0].size: must not be negative, got -5');
  });

  test('index ↔ list conversion maps entry media types and keeps platforms', () => {
    const l = list();
    const oci = toOciIndex(l);
    expect(oci.mediaType).toBe(MediaType.OciIndex);
    expect(oci.manifests.map((m) => m.mediaType)).toEqual([MediaType.OciManifest, MediaType.OciManifest]);
    expect(oci.manifests[1]?.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(toDockerManifestList(oci)).toEqual(l);
    expect(l.manifests[0]?.mediaType).toBe(MediaType.DockerManifest); // input untouched
  });

  test('an index with artifacts or OCI-only fields converts only as far as Docker can carry', () => {
    const idx: OciImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [desc(MediaType.OciManifest, '1')],
      annotations: { a: 'b' },
    };
    const list = toDockerManifestList(idx);
    expect(list).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.DockerManifestList,
      manifests: [desc(MediaType.DockerManifest, '1')],
    });
    const withArtifact = { ...idx, manifests: [desc('application/vnd.example+json', '1')] };
    expect(() => toDockerManifestList(withArtifact)).toThrow(UnsupportedMediaTypeError);
  });
});

describe('manifest conversion', () => {
  test('Docker → OCI maps config and layer types, foreign layers become non-distributable', () => {
    const d = dockerManifest();
    const o = toOciManifest(d);
    expect(o.mediaType).toBe(MediaType.OciManifest);
    expect(o.config.mediaType).toBe(MediaType.OciConfig);
    expect(o.layers.map((l) => l.mediaType)).toEqual([
      MediaType.OciLayerGzip,
      MediaType.OciLayerNondistributableGzip,
    ]);
    expect(o.layers[1]?.urls).toEqual(['https://example.com/layer']);
    expect(o.layers.map((l) => l.digest)).toEqual(d.layers.map((l) => l.digest));
    expect(validateOciManifest(o)).toBe(o);
    expect(toDockerManifest(o)).toEqual(d);
    expect(d.config.mediaType).toBe(MediaType.DockerConfig); // input untouched
  });

  test('OCI → Docker maps zstd and drops what Docker does not define', () => {
    const m = { ...ociManifest(), subject: desc(MediaType.OciManifest, 'e') };
    const d = toDockerManifest(m);
    expect(d.layers.map((l) => l.mediaType)).toEqual([MediaType.DockerLayerGzip, MediaType.DockerLayerZstd]);
    expect(Object.keys(d).sort()).toEqual(['config', 'layers', 'mediaType', 'schemaVersion']);
    expect(validateDockerManifest(d)).toBe(d);
  });

  test('artifacts and layers without a Docker name do not convert', () => {
    expect(() =>
      toDockerManifest({ ...ociManifest(), artifactType: 'application/vnd.example+json' }),
    ).toThrow(UnsupportedMediaTypeError);
    expect(() => toDockerManifest({ ...ociManifest(), config: desc(MediaType.HelmConfig, 'a') })).toThrow(
      /unsupported config media type "application\/vnd.cncf.helm.config.v1\+json"/,
    );
    expect(() =>
      toDockerManifest({ ...ociManifest(), layers: [desc(MediaType.OciLayerNondistributableZstd, 'b')] }),
    ).toThrow(/unsupported layer media type/);
  });
});
