import { describe, expect, test } from 'vitest';
import { InvalidReferenceError } from './errors.js';
import {
  DOCKER_HUB,
  isLoopbackRegistry,
  parseReference,
  parseRepository,
  Reference,
  tryParseReference,
} from './reference.js';

const H = 'f'.repeat(64);
const D = `sha256:${H}`;
const D512 = `sha512:${'f'.repeat(128)}`;

// Cases follow the grammar and normalization of github.com/distribution/reference
// (reference.go, regexp.go, normalize.go and their test tables), checked against the spec text.
const valid: Array<[input: string, normalized: string, parts?: { registry?: string; repository?: string }]> =
  [
    ['ubuntu', 'docker.io/library/ubuntu:latest', { registry: 'docker.io', repository: 'library/ubuntu' }],
    ['ubuntu:22.04', 'docker.io/library/ubuntu:22.04'],
    ['library/ubuntu', 'docker.io/library/ubuntu:latest'],
    ['docker.io/ubuntu', 'docker.io/library/ubuntu:latest', { repository: 'library/ubuntu' }],
    ['docker.io/library/ubuntu:22.04', 'docker.io/library/ubuntu:22.04'],
    ['index.docker.io/ubuntu', 'docker.io/library/ubuntu:latest', { registry: 'docker.io' }],
    ['index.docker.io/user/app:1', 'docker.io/user/app:1'],
    ['user/app', 'docker.io/user/app:latest', { repository: 'user/app' }],
    ['docker.io/user/app', 'docker.io/user/app:latest'],
    ['localhost/x', 'localhost/x:latest', { registry: 'localhost', repository: 'x' }],
    ['localhost:5000/x', 'localhost:5000/x:latest', { registry: 'localhost:5000' }],
    ['localhost:5000/x:tag', 'localhost:5000/x:tag'],
    ['localhost', 'docker.io/library/localhost:latest'],
    ['127.0.0.1:5000/a/b', '127.0.0.1:5000/a/b:latest', { registry: '127.0.0.1:5000', repository: 'a/b' }],
    ['192.168.1.1/repo', '192.168.1.1/repo:latest'],
    ['192.168.1.1:5000/repo:5050', '192.168.1.1:5000/repo:5050'],
    ['[::1]:5000/x', '[::1]:5000/x:latest', { registry: '[::1]:5000', repository: 'x' }],
    ['[2001:db8::1]/repo', '[2001:db8::1]/repo:latest', { registry: '[2001:db8::1]' }],
    ['[2001:db8::1]:5000/repo:tag', '[2001:db8::1]:5000/repo:tag'],
    ['[2001:db8:1:2:3:4:5:6]/repo:tag', '[2001:db8:1:2:3:4:5:6]/repo:tag'],
    ['[2001:db8::]:5000/repo', '[2001:db8::]:5000/repo:latest'],
    ['test:5000/repo', 'test:5000/repo:latest', { registry: 'test:5000', repository: 'repo' }],
    ['test.com:5000', 'docker.io/library/test.com:5000', { repository: 'library/test.com' }],
    ['test.com:tag', 'docker.io/library/test.com:tag'],
    ['test_com', 'docker.io/library/test_com:latest'],
    ['foo/foo_bar.com:8080', 'docker.io/foo/foo_bar.com:8080', { repository: 'foo/foo_bar.com' }],
    ['192.168.1.1', 'docker.io/library/192.168.1.1:latest'],
    ['sub-dom1.foo.com/bar/baz/quux', 'sub-dom1.foo.com/bar/baz/quux:latest', { repository: 'bar/baz/quux' }],
    [
      'b.gcr.io/test.example.com/my-app:test.example.com',
      'b.gcr.io/test.example.com/my-app:test.example.com',
    ],
    ['xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com/myimage:xn--n3h.com'],
    ['ghcr.io/o/r', 'ghcr.io/o/r:latest'],
    ['Example.COM/app', 'Example.COM/app:latest', { registry: 'Example.COM' }],
    [
      'Uppercase/lowercase:tag',
      'Uppercase/lowercase:tag',
      { registry: 'Uppercase', repository: 'lowercase' },
    ],
    ['lowercase:Uppercase', 'docker.io/library/lowercase:Uppercase'],
    ['a/b_c/d__e/f---g/h.i', 'docker.io/a/b_c/d__e/f---g/h.i:latest'],
    ['ubuntu:_under', 'docker.io/library/ubuntu:_under'],
    ['ubuntu:a.b-c_D', 'docker.io/library/ubuntu:a.b-c_D'],
    [`ubuntu:${'t'.repeat(128)}`, `docker.io/library/ubuntu:${'t'.repeat(128)}`],
    [`ubuntu@${D}`, `docker.io/library/ubuntu@${D}`],
    [`ubuntu:22.04@${D}`, `docker.io/library/ubuntu:22.04@${D}`],
    [`localhost:5000/x@${D}`, `localhost:5000/x@${D}`],
    [`[2001:db8::1]:5000/repo:tag@${D}`, `[2001:db8::1]:5000/repo:tag@${D}`],
    [`xn--7o8h.com/myimage:xn--7o8h.com@${D512}`, `xn--7o8h.com/myimage:xn--7o8h.com@${D512}`],
    [`${H}:latest`, `docker.io/library/${H}:latest`],
    [`example.com/${'a'.repeat(255)}:tag`, `example.com/${'a'.repeat(255)}:tag`],
    [`${'a/'.repeat(127)}a:tag`, `docker.io/${'a/'.repeat(127)}a:tag`],
    ['docker.io/library/a/b', 'docker.io/library/a/b:latest', { repository: 'library/a/b' }],
  ];

const invalid: Array<[input: string, problem: RegExp]> = [
  ['', /empty/],
  [' ubuntu', /whitespace/],
  ['ubuntu ', /whitespace/],
  [':justtag', /missing repository name/],
  [`@${D}`, /needs a repository name/],
  ['ubuntu:', /empty tag/],
  ['ubuntu:-tag', /invalid tag/],
  ['ubuntu:.tag', /invalid tag/],
  ['ubuntu:ta/g', /invalid registry port "ta"/], // "ubuntu:ta" is a host:port, as in docker
  [`ubuntu:${'t'.repeat(129)}`, /129 characters long, at most 128/],
  ['Ubuntu', /must be lowercase/],
  ['Uppercase:tag', /must be lowercase/],
  ['test:5000/Uppercase/lowercase:tag', /must be lowercase/],
  ['docker.io/Ubuntu', /must be lowercase/],
  ['a//b', /empty path component/],
  ['a/b/', /empty path component/],
  ['/a', /empty registry host|empty path component/],
  ['a..b', /invalid repository path component/],
  ['a/.b', /invalid repository path component/],
  ['a-/b', /invalid repository path component/],
  ['a___b', /invalid repository path component/],
  ['-a/b', /invalid repository path component/],
  ['aa/asdf$$^/aa', /invalid repository path component/],
  ['localhost:5000/', /missing repository name/],
  ['localhost:/x', /invalid registry port/],
  ['localhost:abc/x', /invalid registry port/],
  ['localhost:99999/x', /invalid registry port/],
  ['-host.com/x', /invalid registry host/],
  ['host-.com/x', /invalid registry host/],
  ['ho_st.com/x', /invalid registry host/],
  ['[2001:db8::1]', /invalid repository path component/],
  ['[2001:db8::1]:5000', /invalid repository path component/],
  ['[2001:db8::1]:tag', /invalid repository path component/],
  ['[fe80::1%eth0]:5000/repo', /invalid IPv6 registry host/],
  ['[::1/x', /unterminated IPv6/],
  [H, /64-character hex/],
  [`ubuntu@sha256:${'f'.repeat(63)}`, /64 hex characters, got 63/],
  [`ubuntu@sha256:${'f'.repeat(65)}`, /64 hex characters, got 65/],
  [`ubuntu@sha256:${'F'.repeat(64)}`, /lowercase/],
  [`ubuntu@md5:${'f'.repeat(32)}`, /unsupported algorithm "md5"/],
  [`validname@invaliddigest:${H}`, /unsupported algorithm/],
  ['repo@sha256:ffffffffffffffffffffffffffffffffff', /64 hex characters/],
  ['ubuntu@', /invalid digest/],
  [`ubuntu@${H}`, /algorithm:hex/],
  [`example.com/${'a'.repeat(256)}:tag`, /must not be more than 255 characters/],
  [`${'a/'.repeat(128)}a:tag`, /must not be more than 255 characters/],
  [`${'a'.repeat(248)}`, /must not be more than 255 characters/],
  ['a@b@sha256:x', /invalid digest/],
  ['ubuntu:tag:tag', /invalid tag|invalid repository path component/],
  // docker's regexp would fall back to a name with no registry at all here; no registry could
  // serve that, so pd refuses it (a deliberate difference).
  ['my.host_name/app', /invalid registry host "my.host_name"/],
];

describe('parseReference: valid references normalize like docker', () => {
  test.each(valid)('%s', (input, normalized, parts) => {
    const ref = parseReference(input);
    expect(ref.toString()).toBe(normalized);
    if (parts?.registry !== undefined) expect(ref.registry).toBe(parts.registry);
    if (parts?.repository !== undefined) expect(ref.repository).toBe(parts.repository);
    // Normalized output parses to itself.
    expect(parseReference(ref.toString()).toString()).toBe(normalized);
  });
});

describe('parseReference: invalid references are refused with the reason', () => {
  test.each(invalid)('%s', (input, problem) => {
    let error: unknown;
    try {
      parseReference(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidReferenceError);
    expect((error as InvalidReferenceError).message).toMatch(problem);
    expect((error as InvalidReferenceError).code).toBe('INVALID_REFERENCE');
  });
});

test('the table is large enough to mean something', () => {
  expect(valid.length + invalid.length).toBeGreaterThanOrEqual(60);
});

describe('Reference', () => {
  test('parts, identifier and familiar forms', () => {
    const r = parseReference('ubuntu:22.04');
    expect(r.registry).toBe(DOCKER_HUB);
    expect(r.name).toBe('docker.io/library/ubuntu');
    expect(r.identifier).toBe('22.04');
    expect(r.familiar()).toBe('ubuntu:22.04');
    expect(r.familiarName()).toBe('ubuntu');
    expect(parseReference('user/app').familiar()).toBe('user/app:latest');
    expect(parseReference('docker.io/library/a/b').familiar()).toBe('library/a/b:latest');
    expect(parseReference('localhost:5000/x').familiar()).toBe('localhost:5000/x:latest');
    expect(parseReference(`ubuntu:1@${D}`).identifier).toBe(D);
    expect(JSON.stringify({ r })).toBe('{"r":"docker.io/library/ubuntu:22.04"}');
  });

  test('defaultTag option', () => {
    expect(parseReference('ubuntu', { defaultTag: false }).tag).toBeUndefined();
    expect(parseReference('ubuntu', { defaultTag: false }).identifier).toBe('latest');
    expect(parseReference('ubuntu', { defaultTag: 'edge' }).tag).toBe('edge');
    expect(parseReference(`ubuntu@${D}`).tag).toBeUndefined();
  });

  test('withTag, withDigest, repo, inRepository', () => {
    const r = parseReference(`localhost:5000/a:1@${D}`);
    expect(r.withTag('2').toString()).toBe('localhost:5000/a:2');
    expect(r.repo().withDigest(D).toString()).toBe(`localhost:5000/a@${D}`);
    expect(r.repo().toString()).toBe('localhost:5000/a');
    expect(r.inRepository('b/c').toString()).toBe(`localhost:5000/b/c:1@${D}`);
    expect(parseReference('ubuntu').inRepository('debian').toString()).toBe(
      'docker.io/library/debian:latest',
    );
    expect(() => r.withTag('bad tag')).toThrow(InvalidReferenceError);
    expect(() => r.withDigest('sha256:abc')).toThrow(InvalidReferenceError);
    expect(r.equals(parseReference(r.toString()))).toBe(true);
    expect(r.equals(r.withTag('x'))).toBe(false);
    expect(new Reference({ registry: 'r.io', repository: 'x' }).toString()).toBe('r.io/x');
  });

  test('parseRepository refuses tags and digests', () => {
    expect(parseRepository('ubuntu').toString()).toBe('docker.io/library/ubuntu');
    expect(() => parseRepository('ubuntu:1')).toThrow(/without tag or digest/);
    expect(() => parseRepository(`ubuntu@${D}`)).toThrow(/without tag or digest/);
  });

  test('tryParseReference', () => {
    expect(tryParseReference('UPPER')).toBeUndefined();
    expect(tryParseReference('ok')?.toString()).toBe('docker.io/library/ok:latest');
  });

  test('isLoopbackRegistry', () => {
    for (const h of [
      'localhost',
      'localhost:5000',
      '127.0.0.1:5000',
      '127.1.2.3',
      '[::1]:5000',
      'x.localhost',
    ]) {
      expect(isLoopbackRegistry(h), h).toBe(true);
    }
    for (const h of ['docker.io', '128.0.0.1', 'localhost.example.com', '[::2]:5000', '10.0.0.1:5000']) {
      expect(isLoopbackRegistry(h), h).toBe(false);
    }
  });
});
