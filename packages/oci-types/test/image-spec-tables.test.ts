/**
 * pd's validators against the OCI image-spec's own test tables (schema/*_test.go) and the
 * examples its spec_test.go validates, read from the installed image-spec source at test time.
 * Where pd knowingly differs from the spec's validator, the case is listed in DEVIATIONS with the
 * spec text that justifies it; the test then requires the opposite outcome, so the list stays true.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_SPEC_DIR, IMAGE_SPEC_SCHEMA_DIR, imageSpecMissing } from '@pd/test-fixtures';
import { describe, expect, test } from 'vitest';
import {
  type Check,
  checkDescriptor,
  checkImageConfig,
  checkOciIndex,
  checkOciLayout,
  checkOciManifest,
  digestOf,
  MediaType,
  parseDocument,
  ValidationError,
} from '../src/index.js';
import {
  aliasConstants,
  type GoTable,
  goTestFiles,
  markdownExamples,
  stringConstants,
  stringMap,
  tablesOf,
} from './go-tables.js';

/** pd's check for each document type the spec's validator knows, by media type. */
const CHECKS: Record<string, { check: Check<unknown>; what: string }> = {
  'application/vnd.oci.descriptor.v1+json': { check: checkDescriptor, what: 'descriptor' },
  [MediaType.OciManifest]: { check: checkOciManifest, what: 'OCI image manifest' },
  [MediaType.OciIndex]: { check: checkOciIndex, what: 'OCI image index' },
  [MediaType.OciConfig]: { check: checkImageConfig, what: 'image config' },
  [MediaType.OciLayoutHeader]: { check: checkOciLayout, what: 'oci-layout file' },
};

interface Deviation {
  /** Which documents of which media type it covers. */
  mediaType: string;
  applies: (doc: unknown) => boolean;
  /** What pd does instead of the spec's validator: 'accepts' what it refuses, or 'refuses' what it accepts. */
  pd: 'accepts' | 'refuses';
  why: string;
}

const DEVIATIONS: Deviation[] = [
  {
    mediaType: MediaType.OciManifest,
    applies: (doc) =>
      Array.isArray((doc as { layers?: unknown }).layers) && (doc as { layers: [] }).layers.length === 0,
    pd: 'accepts',
    why:
      'the JSON schema says minItems 1, but manifest.md says "For portability, layers SHOULD have at least one ' +
      'entry": a SHOULD, and layerless images exist (an image FROM scratch with only ENV/CMD, ' +
      'go-containerregistry empty.Image); pd reads and copies them',
  },
];

interface Outcome {
  valid: boolean;
  problem?: string;
}

function pdValidates(mediaType: string, body: string): Outcome {
  const entry = CHECKS[mediaType];
  if (!entry) throw new Error(`no pd check for ${mediaType}`);
  try {
    parseDocument(body, entry.check, entry.what);
    return { valid: true };
  } catch (e) {
    // Anything but a ValidationError is a bug in pd, not a verdict.
    if (!(e instanceof ValidationError)) throw e;
    return { valid: false, problem: e.message };
  }
}

function deviationFor(mediaType: string, body: string): Deviation | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return undefined;
  }
  return DEVIATIONS.find((d) => d.mediaType === mediaType && d.applies(doc));
}

const missing = imageSpecMissing();
const read = (...p: string[]) => readFileSync(join(...p), 'utf8');

/** Everything the tests need from the image-spec source; nothing is read when it is absent. */
function loadSpec() {
  const v1 = stringConstants(read(IMAGE_SPEC_DIR, 'specs-go', 'v1', 'mediatype.go'));
  const validators = aliasConstants(read(IMAGE_SPEC_SCHEMA_DIR, 'schema.go'), v1);
  const tables = goTestFiles(IMAGE_SPEC_SCHEMA_DIR).flatMap((f) =>
    tablesOf(f, read(IMAGE_SPEC_SCHEMA_DIR, f)),
  );
  const compatSource = tables.find((t) => t.converts)?.file;
  const compat = compatSource
    ? stringMap(read(IMAGE_SPEC_SCHEMA_DIR, compatSource), 'compatMap', v1)
    : new Map();
  const examples = markdownExamples(IMAGE_SPEC_DIR, read(IMAGE_SPEC_SCHEMA_DIR, 'spec_test.go'));
  return { validators, tables, compat, examples };
}

const spec = missing
  ? {
      validators: new Map<string, string>(),
      tables: [] as GoTable[],
      compat: new Map<string, string>(),
      examples: [],
    }
  : loadSpec();

describe.skipIf(missing)("the image-spec's own test tables", () => {
  const { validators, tables, compat, examples } = spec;

  test('the tables were found and read (the parser is not silently finding nothing)', () => {
    const cases = tables.reduce((n, t) => n + t.cases.length, 0);
    expect(tables.length).toBeGreaterThanOrEqual(6);
    expect(cases).toBeGreaterThanOrEqual(40);
    for (const t of tables) {
      expect(t.cases.length, `${t.file} ${t.test}`).toBeGreaterThan(0);
      expect(validators.get(t.validator), `${t.file} ${t.test}: ${t.validator}`).toBeDefined();
      // Both outcomes are exercised overall; a table of only one kind is fine.
      for (const c of t.cases) expect(typeof c.fields[t.documentField], `${t.file}:${c.line}`).toBe('string');
    }
    const failing = tables.flatMap((t) => t.cases).filter((c) => c.fields.fail === true).length;
    expect(failing).toBeGreaterThanOrEqual(20);
    expect(compat.size).toBeGreaterThan(0);
  });

  const rows = tables.flatMap((t) =>
    t.cases.map((c) => ({
      name: `${t.file}:${c.line} ${t.test}[${c.index}] expects ${c.fields.fail === true ? 'invalid' : 'valid'}`,
      table: t,
      document: c.fields[t.documentField] as string,
      // A case without `fail` is Go's zero value: expected to pass.
      goFails: c.fields.fail === true,
      digest: t.digestField ? (c.fields[t.digestField] as string | undefined) : undefined,
    })),
  );

  for (const { name, table, document, goFails, digest } of rows)
    test(name, () => {
      const mediaType = validators.get(table.validator) as string;
      if (digest !== undefined) expect(digestOf(document)).toBe(digest);
      let body = document;
      if (table.converts) for (const [docker, oci] of compat) body = body.replaceAll(docker, oci);
      const got = pdValidates(mediaType, body);
      const deviation = deviationFor(mediaType, body);
      if (deviation) {
        expect(got.valid, deviation.why).toBe(deviation.pd === 'accepts');
        expect(
          goFails,
          `deviation listed for a case the spec's validator agrees with: ${deviation.why}`,
        ).toBe(deviation.pd === 'accepts');
        return;
      }
      expect(got.valid, got.problem ?? 'pd accepts what the spec validator refuses').toBe(!goFails);
    });

  test('the spec text examples were found', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
  });

  for (const { file, title, mediaType, body } of examples) {
    test(`${file}: "${title}" (${mediaType}) is valid`, () => {
      const got = pdValidates(mediaType, body);
      expect(got.valid, got.problem).toBe(true);
    });
  }
});
