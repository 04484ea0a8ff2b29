import { describe, expect, test } from 'vitest';
import { layerHistoryCount, validateContainerConfig, validateImageConfig } from './config.js';
import { ValidationError } from './errors.js';
import { validateDockerArchiveManifest, validateOciLayout } from './layout.js';
import { validateRuntimeSpec } from './runtime-spec.js';
import * as v from './validate.js';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as Error).message;
  }
  throw new Error('expected a ValidationError');
}

describe('combinators', () => {
  const check = v.object({
    name: v.required(v.nonEmptyString),
    count: v.optional(v.integer({ min: 1, max: 3 })),
    tags: v.optional(v.arrayOf(v.string, { minItems: 1 })),
    when: v.optional(v.timestamp),
    blob: v.optional(v.base64),
  });

  test('returns the same object, unknown fields included', () => {
    const doc = { name: 'x', count: 2, other: { deep: true } };
    expect(v.validateWith(check, doc, 'thing')).toBe(doc);
  });

  test('strictObject names a field the shape does not know', () => {
    const strict = v.strictObject({ name: v.required(v.string), tags: v.optional(v.stringArray) });
    expect(v.validateWith(strict, { name: 'x' }, 'thing')).toEqual({ name: 'x' });
    expect(messageOf(() => v.validateWith(strict, { name: 'x', tagz: [] }, 'thing'))).toBe(
      'invalid thing: $.tagz: unknown field (expected one of name, tags)',
    );
  });

  test('only own properties count: inherited or __proto__ keys are data', () => {
    const inherited = Object.create({ name: 'from the prototype' }) as object;
    expect(messageOf(() => v.validateWith(check, inherited, 'thing'))).toBe(
      'invalid thing: $.name: is missing',
    );
    const proto = JSON.parse('{"name":"x","__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(v.validateWith(check, proto, 'thing')).toBe(proto);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test.each([
    [{ name: '' }, '$.name: must not be empty'],
    [{ name: 'x', count: 0 }, '$.count: must be at least 1, got 0'],
    [{ name: 'x', count: 4 }, '$.count: must be at most 3, got 4'],
    [{ name: 'x', count: Number.NaN }, '$.count: expected an integer, got NaN'],
    [{ name: 'x', tags: [] }, '$.tags: must hold at least 1 item'],
    [{ name: 'x', when: '2024-02-30' }, '$.when: expected an RFC 3339 timestamp'],
    [{ name: 'x', when: '2024-01-01T25:00:00Z' }, '$.when: expected an RFC 3339 timestamp'],
    [{ name: 'x', blob: 'abc' }, '$.blob: expected standard base64'],
  ])('%j', (doc, message) => {
    expect(messageOf(() => v.validateWith(check, doc, 'thing'))).toContain(message);
  });

  test('timestamps: offsets, fractions and lowercase separators are RFC 3339', () => {
    for (const t of [
      '2024-01-01T00:00:00Z',
      '2024-01-01t00:00:00.123456789z',
      '1970-01-01T00:00:01+02:00',
      '0001-01-01T00:00:00Z',
    ]) {
      expect(v.validateWith(v.timestamp, t, 'time')).toBe(t);
    }
  });

  test('paths: identifiers dotted, other keys quoted, indexes bracketed', () => {
    expect(v.childPath('$', 'a')).toBe('$.a');
    expect(v.childPath('$.a', 'os.version')).toBe('$.a["os.version"]');
    expect(v.childPath('$.a', 3)).toBe('$.a[3]');
    expect(v.childPath('$', 'with "quote"')).toBe('$["with \\"quote\\""]');
  });

  test('describeValue keeps messages short', () => {
    expect(v.describeValue('x'.repeat(200)).length).toBeLessThan(90);
    expect(v.describeValue(undefined)).toBe('nothing');
    expect(v.describeValue(() => 1)).toBe('a function');
  });
});

describe('image config details', () => {
  test('Docker writes empty lists and maps as null', () => {
    const c = {
      Cmd: null,
      Entrypoint: null,
      Env: null,
      Volumes: null,
      ExposedPorts: null,
      Labels: null,
      OnBuild: null,
      Shell: null,
      Healthcheck: null,
    };
    expect(validateContainerConfig(c)).toBe(c);
    expect(messageOf(() => validateContainerConfig({ WorkingDir: null }))).toContain(
      '$.WorkingDir: expected a string, got null',
    );
  });

  test('layerHistoryCount skips empty layers', () => {
    const config = validateImageConfig({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [] },
      history: [{ created_by: 'a' }, { empty_layer: true }, { empty_layer: false }],
    });
    expect(layerHistoryCount(config)).toBe(2);
    expect(layerHistoryCount({ ...config, history: undefined })).toBe(0);
  });

  test('ports: bare, udp, sctp; not 0 or junk', () => {
    expect(validateContainerConfig({ ExposedPorts: { '80': {}, '53/udp': {}, '9/sctp': {} } })).toBeTruthy();
    expect(messageOf(() => validateContainerConfig({ ExposedPorts: { '0/tcp': {} } }))).toContain(
      '["0/tcp"]',
    );
    expect(messageOf(() => validateContainerConfig({ ExposedPorts: { '80/quic': {} } }))).toContain(
      '["80/quic"]',
    );
  });
});

describe('runtime spec details', () => {
  const spec = (extra: Record<string, unknown>) => ({ ociVersion: '1.2.0', ...extra });

  test('rlimits keep uint64 values such as RLIM_INFINITY (approximated by JSON.parse)', () => {
    const s = JSON.parse(
      '{"ociVersion":"1.2.0","process":{"cwd":"/","user":{"uid":0,"gid":0},' +
        '"rlimits":[{"type":"RLIMIT_CORE","soft":18446744073709551615,"hard":18446744073709551615}]}}',
    );
    expect(validateRuntimeSpec(s)).toBe(s);
  });

  test.each([
    [spec({ ociVersion: 'one' }), '$.ociVersion: expected a version like 1.0.2'],
    [spec({ process: { cwd: '/' } }), '$.process.user: is missing'],
    [spec({ process: { user: {} } }), '$.process.cwd: is missing'],
    [spec({ root: { readonly: true } }), '$.root.path: is missing'],
    [
      spec({ linux: { resources: { devices: [{ access: 'rwm' }] } } }),
      '$.linux.resources.devices[0].allow: is missing',
    ],
    [
      spec({ linux: { rootfsPropagation: 'everywhere' } }),
      '$.linux.rootfsPropagation: expected one of private',
    ],
    [
      spec({ hooks: { prestart: [{ path: 'hook' }] } }),
      '$.hooks.prestart[0].path: expected an absolute path',
    ],
    [
      spec({ hooks: { poststop: [{ path: '/hook', timeout: 0 }] } }),
      '$.hooks.poststop[0].timeout: must be at least 1',
    ],
    [
      spec({ process: { cwd: '/', user: {}, oomScoreAdj: 2000 } }),
      '$.process.oomScoreAdj: must be at most 1000',
    ],
  ])('%#: %s', (doc, message) => {
    expect(messageOf(() => validateRuntimeSpec(doc))).toContain(message);
  });
});

describe('layout details', () => {
  test('oci-layout version and archive paths', () => {
    expect(messageOf(() => validateOciLayout({}))).toBe(
      'invalid oci-layout file: $.imageLayoutVersion: is missing',
    );
    expect(messageOf(() => validateDockerArchiveManifest([{ Config: 'a\\..\\b', Layers: [] }]))).toContain(
      '$[0].Config: expected a relative path inside the archive',
    );
    expect(messageOf(() => validateDockerArchiveManifest({}))).toContain(
      '$: expected an array, got an object',
    );
    const saved = [{ Config: 'c.json', RepoTags: null, Layers: ['blobs/sha256/abc'] }];
    expect(validateDockerArchiveManifest(saved)).toBe(saved);
  });
});
