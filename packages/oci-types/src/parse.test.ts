import { describe, expect, test } from 'vitest';
import { DocumentTooLargeError, UnsupportedMediaTypeError, ValidationError } from './errors.js';
import { MediaType } from './media-types.js';
import { MAX_MANIFEST_SIZE, parseImageConfig, parseJson, parseManifest } from './parse.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const layer = { mediaType: MediaType.OciLayerGzip, digest: D('b'), size: 3 };
const config = { mediaType: MediaType.OciConfig, digest: D('a'), size: 2 };
const manifest = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ schemaVersion: 2, config, layers: [layer], ...extra });
const index = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    schemaVersion: 2,
    manifests: [
      {
        mediaType: MediaType.OciManifest,
        digest: D('c'),
        size: 9,
        platform: { os: 'linux', architecture: 'amd64' },
      },
    ],
    ...extra,
  });

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('parseManifest: detection', () => {
  test('by the mediaType field', () => {
    const r = parseManifest(manifest({ mediaType: MediaType.OciManifest }));
    expect(r.kind).toBe('manifest');
    expect(r.mediaType).toBe(MediaType.OciManifest);
    const i = parseManifest(Buffer.from(index({ mediaType: MediaType.OciIndex })));
    expect(i.kind).toBe('index');
    if (i.kind === 'index') expect(i.index.manifests).toHaveLength(1);
  });

  test('by the Content-Type when the field is absent (parameters and case ignored)', () => {
    const r = parseManifest(manifest(), 'Application/VND.oci.image.manifest.v1+json; charset=utf-8');
    expect(r).toMatchObject({ kind: 'manifest', mediaType: MediaType.OciManifest });
    const i = parseManifest(index(), MediaType.OciIndex);
    expect(i).toMatchObject({ kind: 'index', mediaType: MediaType.OciIndex });
  });

  test('by shape when neither says (generic content types say nothing)', () => {
    expect(parseManifest(manifest())).toMatchObject({ kind: 'manifest', mediaType: MediaType.OciManifest });
    expect(parseManifest(index(), 'application/json')).toMatchObject({
      kind: 'index',
      mediaType: MediaType.OciIndex,
    });
    expect(parseManifest(index(), 'application/octet-stream').kind).toBe('index');
  });

  test('Docker types validate as Docker: a Docker content type without the field fails on it', () => {
    const docker = JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { ...config, mediaType: MediaType.DockerConfig },
      layers: [{ ...layer, mediaType: MediaType.DockerLayerGzip }],
    });
    const r = parseManifest(docker, MediaType.DockerManifest);
    expect(r.kind === 'manifest' && r.manifest.mediaType).toBe(MediaType.DockerManifest);
    const e = errorOf(() => parseManifest(manifest(), MediaType.DockerManifest));
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.message).toBe('invalid image manifest: $.mediaType: is missing');
    const l = errorOf(() => parseManifest(index(), MediaType.DockerManifestList));
    expect(l.message).toBe('invalid image index: $.mediaType: is missing');
  });

  test('a mediaType field that disagrees with the content type is refused', () => {
    const e = errorOf(() =>
      parseManifest(manifest({ mediaType: MediaType.OciManifest }), MediaType.DockerManifest),
    );
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as ValidationError).path).toBe('$.mediaType');
    expect(e.message).toContain(
      'but the content type is "application/vnd.docker.distribution.manifest.v2+json"',
    );
    expect(() => parseManifest(index({ mediaType: MediaType.OciIndex }), MediaType.OciManifest)).toThrow(
      ValidationError,
    );
  });

  test('ambiguous or shapeless documents', () => {
    expect(
      errorOf(() => parseManifest(JSON.stringify({ schemaVersion: 2, manifests: [], layers: [] }))).message,
    ).toContain('has both "manifests" and "layers"');
    expect(errorOf(() => parseManifest('{"schemaVersion":2}')).message).toContain(
      'not a manifest or an index',
    );
  });

  test('unknown media types are unsupported, not invalid', () => {
    const e = errorOf(() =>
      parseManifest(manifest({ mediaType: 'application/vnd.oci.artifact.manifest.v1+json' })),
    );
    expect(e).toBeInstanceOf(UnsupportedMediaTypeError);
    expect((e as UnsupportedMediaTypeError).mediaType).toBe('application/vnd.oci.artifact.manifest.v1+json');
    expect(() => parseManifest(manifest(), 'application/vnd.example.thing+json')).toThrow(
      UnsupportedMediaTypeError,
    );
  });
});

describe('parseManifest: legacy schema 1', () => {
  const hint = /legacy format pd does not read; re-push the image/;
  test.each([
    ['schemaVersion 1', JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), undefined],
    ['v1 media type field', manifest({ mediaType: MediaType.DockerManifestV1 }), undefined],
    ['prettyjws content type', '{"schemaVersion":1}', MediaType.DockerManifestV1Signed],
    ['v1 content type, even with a v2 body', manifest(), MediaType.DockerManifestV1],
    [
      'prettyjws content type, whatever the body',
      'not json',
      `${MediaType.DockerManifestV1Signed}; charset=utf-8`,
    ],
  ])('%s', (_name, body, contentType) => {
    const e = errorOf(() => parseManifest(body, contentType));
    expect(e).toBeInstanceOf(UnsupportedMediaTypeError);
    expect((e as UnsupportedMediaTypeError).hint).toMatch(hint);
    expect((e as UnsupportedMediaTypeError).code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('parseManifest: bad bytes', () => {
  test('size cap, default and option', () => {
    const big = manifest({ annotations: { pad: 'x'.repeat(MAX_MANIFEST_SIZE) } });
    const e = errorOf(() => parseManifest(big));
    expect(e).toBeInstanceOf(DocumentTooLargeError);
    expect((e as DocumentTooLargeError).limit).toBe(4 * 1024 * 1024);
    expect(() => parseManifest(Buffer.from(big))).toThrow(DocumentTooLargeError);
    expect(() => parseManifest(manifest(), undefined, { maxSize: 50 })).toThrow(/more than the limit of 50/);
    expect(parseManifest(big, undefined, { maxSize: 5 * 1024 * 1024 }).kind).toBe('manifest');
    // Multi-byte characters count as bytes, not characters.
    const wide = manifest({ annotations: { pad: 'é'.repeat(300) } });
    expect(() => parseManifest(wide, undefined, { maxSize: wide.length + 10 })).toThrow(
      DocumentTooLargeError,
    );
  });

  test.each([
    ['not JSON', Buffer.from('{"schemaVersion":'), '$: is not valid JSON'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), '$: is not valid UTF-8'],
    [
      'a BOM',
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(manifest())]),
      '$: is not valid JSON',
    ],
    ['an array', Buffer.from('[]'), '$: expected an object, got an array'],
    ['a string', Buffer.from('"x"'), '$: expected an object, got "x"'],
    ['a non-string mediaType', Buffer.from('{"mediaType":5}'), '$.mediaType: expected a string, got 5'],
  ])('%s', (_name, bytes, message) => {
    const e = errorOf(() => parseManifest(bytes));
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.message).toContain(message);
  });
});

describe('parseJson / parseImageConfig', () => {
  test('parse a config and report its problems', () => {
    const c = parseImageConfig(
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    );
    expect(c.os).toBe('linux');
    expect(() =>
      parseImageConfig('{"architecture":"amd64","os":"linux","rootfs":{"type":"x","diff_ids":[]}}'),
    ).toThrow('invalid image config: $.rootfs.type: expected "layers", got "x"');
    expect(parseJson('[1]', 'thing')).toEqual([1]);
    expect(() => parseJson('x'.repeat(11), 'thing', { maxSize: 10 })).toThrow(
      'thing is 11 bytes, more than the limit of 10',
    );
  });
});
