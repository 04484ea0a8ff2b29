import { describe, expect, test } from 'vitest';
import type { Descriptor } from './descriptor.js';
import { toDigest } from './digest.js';
import { InvalidPlatformError, PlatformNotFoundError, ValidationError } from './errors.js';
import {
  compatiblePlatforms,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  type Platform,
  parsePlatform,
  platformMatches,
  selectPlatform,
  validatePlatform,
} from './platform.js';

const p = (s: string): Platform => parsePlatform(s);

describe('parsePlatform / normalizePlatform', () => {
  test.each([
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/x86_64', { os: 'linux', architecture: 'amd64' }],
    ['linux/x86-64', { os: 'linux', architecture: 'amd64' }],
    ['linux/amd64/v1', { os: 'linux', architecture: 'amd64' }],
    ['linux/amd64/v3', { os: 'linux', architecture: 'amd64', variant: 'v3' }],
    ['linux/arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['linux/aarch64', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['linux/arm64/8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['linux/arm64/v9.2', { os: 'linux', architecture: 'arm64', variant: 'v9.2' }],
    ['linux/arm', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/arm/7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/arm/v6', { os: 'linux', architecture: 'arm', variant: 'v6' }],
    ['linux/armhf', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/armel', { os: 'linux', architecture: 'arm', variant: 'v6' }],
    ['linux/i386', { os: 'linux', architecture: '386' }],
    ['linux/386', { os: 'linux', architecture: '386' }],
    ['Linux/AMD64', { os: 'linux', architecture: 'amd64' }],
    ['macos/arm64', { os: 'darwin', architecture: 'arm64', variant: 'v8' }],
    ['linux/riscv64', { os: 'linux', architecture: 'riscv64' }],
    ['linux/s390x', { os: 'linux', architecture: 's390x' }],
    ['linux/ppc64le', { os: 'linux', architecture: 'ppc64le' }],
    ['arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['aarch64', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['windows(10.0.17763)/amd64', { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763' }],
    [
      'windows(10.0.17763+win32k)/amd64',
      { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763', 'os.features': ['win32k'] },
    ],
  ])('%s', (input, expected) => {
    expect(parsePlatform(input)).toEqual(expected);
  });

  test('a bare OS takes the host architecture', () => {
    const host = hostPlatform();
    expect(parsePlatform('linux')).toEqual({ ...host, os: 'linux' });
  });

  test.each([
    ['', /empty/],
    ['linux/', /invalid part ""/],
    ['/amd64', /invalid OS part/],
    ['linux/amd64/v8/extra', /too many/],
    ['linux/am d64', /invalid part/],
    ['notanos', /not a known operating system or architecture/],
    ['linux(%zz)/amd64', /percent-encoding/],
    ['linux/*', /invalid part/],
  ])('refuses %j', (input, problem) => {
    expect(() => parsePlatform(input)).toThrow(InvalidPlatformError);
    expect(() => parsePlatform(input)).toThrow(problem);
  });

  test('normalizePlatform keeps other fields and sorts features', () => {
    const n = normalizePlatform({
      os: 'linux',
      architecture: 'amd64',
      'os.features': ['b', 'a', 'b'],
      features: ['x'],
    });
    expect(n).toEqual({ os: 'linux', architecture: 'amd64', 'os.features': ['a', 'b'], features: ['x'] });
  });
});

describe('formatPlatform', () => {
  test('round trips through parsePlatform', () => {
    for (const s of ['linux/amd64', 'linux/arm64/v8', 'linux/arm/v6', 'windows(10.0.17763+a+b)/amd64']) {
      expect(formatPlatform(parsePlatform(s))).toBe(s);
    }
    const odd: Platform = { os: 'windows', architecture: 'amd64', 'os.version': '1(2)/3+4%' };
    expect(parsePlatform(formatPlatform(odd))).toEqual(odd);
  });
});

describe('hostPlatform', () => {
  test('maps Node names to OCI names', () => {
    const h = hostPlatform();
    const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386' };
    expect(h.os).toBe(process.platform === 'win32' ? 'windows' : process.platform);
    if (arch[process.arch]) expect(h.architecture).toBe(arch[process.arch]);
    if (h.architecture === 'arm64') expect(h.variant).toBe('v8');
    if (h.architecture === 'arm') expect(h.variant).toMatch(/^v[5-8]$/);
  });
});

describe('platformMatches (containerd semantics)', () => {
  test.each([
    ['linux/amd64', 'linux/amd64', true],
    ['linux/amd64', 'linux/x86_64', true],
    ['linux/arm64', 'linux/arm64/v8', true],
    ['linux/arm64/v8', 'linux/arm64', true],
    ['linux/arm64', 'linux/aarch64', true],
    ['linux/arm/v7', 'linux/arm', true],
    ['linux/arm/v7', 'linux/arm/v6', true],
    ['linux/arm/v7', 'linux/arm/v5', true],
    ['linux/arm/v6', 'linux/arm/v7', false],
    ['linux/arm/v8', 'linux/arm/v7', true],
    ['linux/arm64', 'linux/arm/v7', true],
    ['linux/arm64', 'linux/arm/v8', true],
    ['linux/arm/v7', 'linux/arm64', false],
    ['linux/arm64/v8.2', 'linux/arm64/v8.1', true],
    ['linux/arm64/v8.1', 'linux/arm64/v8.2', false],
    ['linux/arm64/v9.1', 'linux/arm64/v9', true],
    ['linux/arm64/v9', 'linux/arm64/v8.5', true],
    ['linux/arm64/v9', 'linux/arm64/v8.6', false],
    ['linux/arm64/v9', 'linux/arm64/v8', true],
    ['linux/arm64', 'linux/arm64/v9', false],
    ['linux/amd64', 'linux/386', true],
    ['linux/386', 'linux/amd64', false],
    ['linux/amd64/v3', 'linux/amd64/v2', true],
    ['linux/amd64/v3', 'linux/amd64', true],
    ['linux/amd64', 'linux/amd64/v2', false],
    ['linux/amd64', 'linux/arm64', false],
    ['linux/amd64', 'windows/amd64', false],
  ])('want %s, have %s → %s', (want, have, expected) => {
    expect(platformMatches(p(want), p(have))).toBe(expected);
  });

  test('OS features of the image must be offered by the host', () => {
    const host: Platform = { os: 'windows', architecture: 'amd64', 'os.features': ['win32k', 'x'] };
    expect(platformMatches(host, { os: 'windows', architecture: 'amd64', 'os.features': ['win32k'] })).toBe(
      true,
    );
    expect(platformMatches(host, { os: 'windows', architecture: 'amd64', 'os.features': ['y'] })).toBe(false);
    expect(platformMatches({ os: 'windows', architecture: 'amd64' }, host)).toBe(false);
  });

  test('Windows images must match the host build', () => {
    const host: Platform = { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1234' };
    expect(platformMatches(host, { ...host, 'os.version': '10.0.17763.5000' })).toBe(true);
    expect(platformMatches(host, { ...host, 'os.version': '10.0.20348.1' })).toBe(false);
    expect(platformMatches(host, { os: 'windows', architecture: 'amd64' })).toBe(true);
  });

  test('compatiblePlatforms lists the preference order', () => {
    expect(compatiblePlatforms(p('linux/arm64')).map(formatPlatform)).toEqual([
      'linux/arm64/v8',
      'linux/arm/v8',
      'linux/arm/v7',
      'linux/arm/v6',
      'linux/arm/v5',
    ]);
    expect(compatiblePlatforms(p('linux/amd64/v3')).map(formatPlatform)).toEqual([
      'linux/amd64/v3',
      'linux/amd64/v2',
      'linux/amd64',
      'linux/386',
    ]);
  });
});

const entry = (
  platform: Platform | undefined,
  n: number,
  annotations?: Record<string, string>,
): Descriptor => {
  const d: Descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: toDigest(`sha256:${String(n).repeat(64).slice(0, 64)}`),
    size: 100 + n,
  };
  if (platform) d.platform = platform;
  if (annotations) d.annotations = annotations;
  return d;
};

describe('selectPlatform', () => {
  const index = {
    manifests: [
      entry({ os: 'linux', architecture: 'amd64' }, 1),
      entry({ os: 'linux', architecture: 'arm', variant: 'v6' }, 2),
      entry({ os: 'linux', architecture: 'arm', variant: 'v7' }, 3),
      entry({ os: 'linux', architecture: 'arm64', variant: 'v8' }, 4),
      entry({ os: 'unknown', architecture: 'unknown' }, 5, {
        'vnd.docker.reference.type': 'attestation-manifest',
      }),
      entry(undefined, 6),
    ],
  };

  test('exact match wins over compatible ones, whatever the order', () => {
    expect(selectPlatform(index, p('linux/arm64')).size).toBe(104);
    expect(selectPlatform(index, p('linux/arm/v7')).size).toBe(103);
    expect(selectPlatform(index, p('linux/arm/v6')).size).toBe(102);
    expect(selectPlatform(index, p('linux/amd64')).size).toBe(101);
  });

  test('falls back to the closest compatible variant', () => {
    expect(selectPlatform(index, p('linux/arm/v8')).size).toBe(103);
    const onlyArm = { manifests: [index.manifests[1] as Descriptor, index.manifests[2] as Descriptor] };
    expect(selectPlatform(onlyArm, p('linux/arm64')).size).toBe(103);
    const only386 = { manifests: [entry({ os: 'linux', architecture: '386' }, 7)] };
    expect(selectPlatform(only386, p('linux/amd64')).size).toBe(107);
  });

  test('the first entry wins a tie', () => {
    const twice = {
      manifests: [
        entry({ os: 'linux', architecture: 'amd64' }, 1),
        entry({ os: 'linux', architecture: 'x86_64' }, 2),
      ],
    };
    expect(selectPlatform(twice, p('linux/amd64')).size).toBe(101);
  });

  test('PlatformNotFoundError lists what is there, without attestations', () => {
    let err: unknown;
    try {
      selectPlatform(index, p('linux/s390x'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlatformNotFoundError);
    const e = err as PlatformNotFoundError;
    expect(e.wanted).toBe('linux/s390x');
    expect(e.available).toEqual(['linux/amd64', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm64/v8']);
    expect(e.hint).toContain('available: linux/amd64, linux/arm/v6');
    expect(() => selectPlatform({ manifests: [] }, p('linux/amd64'))).toThrow(
      /no image for platform linux\/amd64/,
    );
  });

  test('attestations are skipped even when asked for unknown/unknown', () => {
    expect(() => selectPlatform(index, { os: 'unknown', architecture: 'unknown' })).toThrow(
      PlatformNotFoundError,
    );
  });

  test('defaults to the host platform', () => {
    const host = hostPlatform();
    const d = selectPlatform({ manifests: [entry({ os: 'plan9', architecture: 'x' }, 1), entry(host, 2)] });
    expect(d.size).toBe(102);
  });
});

describe('validatePlatform', () => {
  test('accepts a full platform and keeps unknown fields', () => {
    const v = { os: 'linux', architecture: 'arm64', variant: 'v8', 'os.features': ['a'], extra: 1 };
    expect(validatePlatform(v)).toBe(v);
  });

  test.each([
    [{ os: 'linux' }, '$.architecture: is missing'],
    [{ os: '', architecture: 'amd64' }, '$.os: must not be empty'],
    [{ os: 'linux', architecture: 'amd64', 'os.features': 'x' }, '$["os.features"]: expected an array'],
    [{ os: 'linux', architecture: 'amd64', variant: 8 }, '$.variant: expected a string, got 8'],
  ])('%j', (value, message) => {
    expect(() => validatePlatform(value)).toThrow(ValidationError);
    expect(() => validatePlatform(value)).toThrow(message);
  });
});
