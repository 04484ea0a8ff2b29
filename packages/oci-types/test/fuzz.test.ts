// Property-based tests: generated input must either work or fail with pd's own typed errors,
// never with a TypeError, a RangeError or a hang. Run counts keep the file to a few seconds.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  formatPlatform,
  InvalidDigestError,
  InvalidPlatformError,
  InvalidReferenceError,
  MediaType,
  PdError,
  type Platform,
  parseDigest,
  parseManifest,
  parsePlatform,
  parseReference,
  ValidationError,
  validateDockerArchiveManifest,
  validateDockerRepositories,
  validateImageConfig,
  validateImageIndex,
  validateImageManifest,
  validateOciLayout,
  validateRuntimeSpec,
} from '../src/index.js';

const RUNS = { numRuns: 400 };

// Every property runs from one seed, PD_TEST_SEED (fixed in vitest.shared.ts; set it to try
// another): fast-check prints it with a failure, so the run can be repeated exactly.
fc.configureGlobal({ seed: Number(process.env.PD_TEST_SEED) });

/** Runs `fn`; an exception must be an instance of `type`. Returns the result or undefined. */
function onlyThrows<T>(type: abstract new (...args: never[]) => Error, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof type)) throw new Error(`expected only ${type.name}, got ${String(e)}`, { cause: e });
    return undefined;
  }
}

// --- references, generated from the distribution/reference grammar
const alnum = fc.stringMatching(/^[a-z0-9]{1,6}$/);
const separator = fc.constantFrom('.', '_', '__', '-', '---');
const pathComponent = fc
  .tuple(alnum, fc.array(fc.tuple(separator, alnum), { maxLength: 2 }))
  .map(([head, tail]) => head + tail.map(([s, a]) => s + a).join(''));
const path = fc.array(pathComponent, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/'));
const domainComponent = fc.stringMatching(/^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,5}[a-zA-Z0-9])?$/);
const host = fc.oneof(
  fc.constant('localhost'),
  fc.tuple(domainComponent, domainComponent).map(([a, b]) => `${a}.${b}`),
  fc.ipV4(),
  fc
    .ipV6()
    .filter((a) => /^[a-fA-F0-9:]+$/.test(a))
    .map((a) => `[${a}]`),
);
const registry = fc
  .tuple(host, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }))
  .map(([h, port]) => (port === undefined ? h : `${h}:${port}`));
const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}$/);
const digest = fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`);
const reference = fc
  .tuple(
    fc.option(registry, { nil: undefined }),
    path,
    fc.option(tag, { nil: undefined }),
    fc.option(digest, { nil: undefined }),
  )
  // Without a registry, a first component with a dot is read as a host (docker's rule), so it must be one.
  .filter(([r, p]) => r !== undefined || !p.includes('/') || !(p.split('/')[0] ?? '').includes('.'))
  .map(
    ([r, p, t, d]) =>
      `${r === undefined ? '' : `${r}/`}${p}${t === undefined ? '' : `:${t}`}${d === undefined ? '' : `@${d}`}`,
  );

describe('reference parser', () => {
  test('grammar-generated references parse, and parse → toString → parse is stable', () => {
    fc.assert(
      fc.property(reference, (s) => {
        const ref = parseReference(s);
        const full = ref.toString();
        expect(parseReference(full).toString()).toBe(full);
        expect(parseReference(ref.familiar()).toString()).toBe(full);
      }),
      RUNS,
    );
  });

  test('arbitrary strings throw nothing but InvalidReferenceError', () => {
    const chars = fc.constantFrom(...'aZ09:/@._-[]%+! é\u0000'.split(''));
    const strings = fc.oneof(
      fc.string(),
      fc.string({ unit: chars, maxLength: 40 }),
      reference.map((r) => `${r}:`),
    );
    fc.assert(
      fc.property(strings, (s) => {
        const ref = onlyThrows(InvalidReferenceError, () => parseReference(s));
        if (ref) expect(parseReference(ref.toString()).toString()).toBe(ref.toString());
      }),
      { numRuns: 1500 },
    );
  });

  test('mutating one character of a valid reference never breaks the parser', () => {
    const mutated = fc
      .tuple(reference, fc.nat(), fc.string({ minLength: 0, maxLength: 2 }))
      .map(([r, i, c]) => r.slice(0, i % (r.length + 1)) + c + r.slice((i % (r.length + 1)) + 1));
    fc.assert(
      fc.property(mutated, (s) => {
        onlyThrows(InvalidReferenceError, () => parseReference(s));
      }),
      RUNS,
    );
  });
});

describe('digests and platforms', () => {
  test('parseDigest throws only InvalidDigestError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          digest.map((d) => d.slice(0, -1)),
          digest.map((d) => d.toUpperCase()),
        ),
        (s) => {
          onlyThrows(InvalidDigestError, () => parseDigest(s));
        },
      ),
      RUNS,
    );
  });

  const platform: fc.Arbitrary<Platform> = fc
    .record(
      {
        os: fc.constantFrom('linux', 'windows', 'darwin', 'freebsd'),
        architecture: fc.constantFrom('amd64', 'arm64', 'arm', '386', 'riscv64', 's390x', 'ppc64le'),
        variant: fc.constantFrom('v5', 'v6', 'v7', 'v8', 'v8.2', 'v3'),
        'os.version': fc.stringMatching(/^[0-9.()%+/]{1,12}$/),
        'os.features': fc.array(fc.stringMatching(/^[a-z0-9+%]{1,6}$/), { maxLength: 3 }),
      },
      { requiredKeys: ['os', 'architecture'] },
    )
    .map((p) => parsePlatform(formatPlatform(p)));

  test('parsePlatform(formatPlatform(p)) is stable and throws only InvalidPlatformError on junk', () => {
    fc.assert(
      fc.property(platform, (p) => {
        expect(parsePlatform(formatPlatform(p))).toEqual(p);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.string(), (s) => {
        onlyThrows(InvalidPlatformError, () => parsePlatform(s));
      }),
      RUNS,
    );
  });
});

// --- manifests: random JSON, manifest-shaped JSON, and real documents with one node replaced
const mediaTypes = [
  MediaType.OciManifest,
  MediaType.OciIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifestV1Signed,
  MediaType.OciLayerGzip,
  'application/json',
];
const loose = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: fc.jsonValue() });
const descriptor = fc.record(
  {
    mediaType: loose(fc.constantFrom(...mediaTypes)),
    digest: loose(digest),
    size: loose(fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.constant(2 ** 60))),
    urls: loose(fc.array(fc.webUrl(), { maxLength: 2 })),
    annotations: loose(fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 })),
    platform: loose(
      fc.record({ os: fc.string(), architecture: fc.string(), variant: fc.string() }, { requiredKeys: [] }),
    ),
    data: loose(fc.base64String({ maxLength: 12 })),
  },
  { requiredKeys: [] },
);
const manifestish = fc.record(
  {
    schemaVersion: loose(fc.constantFrom(1, 2)),
    mediaType: loose(fc.constantFrom(...mediaTypes)),
    config: loose(descriptor),
    layers: loose(fc.array(descriptor, { maxLength: 3 })),
    manifests: loose(fc.array(descriptor, { maxLength: 3 })),
    subject: loose(descriptor),
    annotations: loose(fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 })),
    'x-unknown-field': fc.jsonValue(),
  },
  { requiredKeys: [] },
);
// Well-formed manifests and indexes, with random but valid parts: without them the success path of
// the property below is reached only by luck (a run of 1500 shapes sometimes had none).
const layerDescriptor = fc.record({
  mediaType: fc.constantFrom(MediaType.OciLayerGzip, MediaType.OciLayerZstd, MediaType.OciLayer),
  digest,
  size: fc.nat(),
});
const wellFormed = fc.oneof(
  fc.record({
    schemaVersion: fc.constant(2),
    mediaType: fc.constant(MediaType.OciManifest),
    config: fc.record({ mediaType: fc.constant(MediaType.OciConfig), digest, size: fc.nat() }),
    layers: fc.array(layerDescriptor, { maxLength: 3 }),
  }),
  fc.record({
    schemaVersion: fc.constant(2),
    mediaType: fc.constant(MediaType.OciIndex),
    manifests: fc.array(
      fc.record({
        mediaType: fc.constant(MediaType.OciManifest),
        digest,
        size: fc.nat(),
        platform: fc.record({ os: fc.constant('linux'), architecture: fc.constantFrom('amd64', 'arm64') }),
      }),
      { maxLength: 3 },
    ),
  }),
);
const contentType = fc.option(
  fc.constantFrom(...mediaTypes, 'text/html; charset=utf-8', '', 'APPLICATION/JSON'),
  {
    nil: undefined,
  },
);

describe('manifest parsing and validation', () => {
  test('parseManifest on random JSON and random bytes throws only PdError subclasses', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
          fc.uint8Array(),
        ),
        contentType,
        (input, ct) => {
          onlyThrows(PdError, () => parseManifest(input, ct));
        },
      ),
      RUNS,
    );
  });

  test('manifest-shaped JSON either parses to what it says, unchanged, or throws a PdError', () => {
    let parsed = 0;
    fc.assert(
      fc.property(fc.oneof(manifestish, wellFormed), contentType, (doc, ct) => {
        const text = JSON.stringify(doc);
        const result = onlyThrows(PdError, () => parseManifest(text, ct));
        if (!result) return;
        parsed++;
        const value = result.kind === 'index' ? result.index : result.manifest;
        expect(value).toEqual(JSON.parse(text));
        expect(result.kind === 'index').toBe(Object.hasOwn(doc, 'manifests'));
      }),
      { numRuns: 1500 },
    );
    // The generator must reach the success path too, or the property says little.
    expect(parsed).toBeGreaterThan(0);
  });

  const validators = [
    validateImageManifest,
    validateImageIndex,
    validateImageConfig,
    validateRuntimeSpec,
    validateOciLayout,
    validateDockerArchiveManifest,
    validateDockerRepositories,
  ];

  test('every validator throws only ValidationError on anything', () => {
    fc.assert(
      fc.property(
        fc.anything({ withNullPrototype: true, withObjectString: true }),
        fc.nat(validators.length - 1),
        (v, i) => {
          onlyThrows(ValidationError, () => validators[i]?.(v));
        },
      ),
      RUNS,
    );
  });

  const fixtures: Array<[string, (v: unknown) => unknown]> = [
    ['docker-manifest.json', validateImageManifest],
    ['oci-manifest.json', validateImageManifest],
    ['docker-manifest-list.json', validateImageIndex],
    ['oci-index.json', validateImageIndex],
    ['docker-config.json', validateImageConfig],
    ['runc-config.json', validateRuntimeSpec],
    ['docker-save/manifest.json', validateDockerArchiveManifest],
  ];
  const docs = fixtures.map(
    ([name, validate]) =>
      [JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')), validate] as const,
  );

  /** Every node of a JSON document, as a parent and a key, so one can be replaced. */
  function slots(doc: unknown): Array<[Record<string | number, unknown>, string | number]> {
    const out: Array<[Record<string | number, unknown>, string | number]> = [];
    const walk = (node: unknown) => {
      if (node === null || typeof node !== 'object') return;
      const rec = node as Record<string | number, unknown>;
      for (const key of Object.keys(rec)) {
        out.push([rec, Array.isArray(node) ? Number(key) : key]);
        walk(rec[key]);
      }
    };
    walk(doc);
    return out;
  }

  test('real documents with one node replaced by random JSON: valid, or a ValidationError', () => {
    fc.assert(
      fc.property(fc.nat(docs.length - 1), fc.nat(), fc.jsonValue({ maxDepth: 2 }), (d, n, replacement) => {
        const [doc, validate] = docs[d] as (typeof docs)[number];
        const copy = structuredClone(doc);
        const all = slots(copy);
        const [parent, key] = all[n % all.length] as [Record<string | number, unknown>, string | number];
        parent[key] = replacement;
        onlyThrows(ValidationError, () => validate(copy));
        onlyThrows(PdError, () => parseManifest(JSON.stringify(copy)));
      }),
      { numRuns: 1000 },
    );
  });
});
