/**
 * The official OCI JSON schemas (image-spec `schema/*.json`, draft-04), loaded at test time from
 * the installed image-spec source, as one validator per document type. The schemas refer to each
 * other by file name under several base URIs (`https://opencontainers.org/schema/image/…`,
 * `…/schema/descriptor/…`); the spec's own Go loader maps every such URI to the file of that
 * name, and so does this one: ids are dropped and each `$ref` points at the file by its name.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import ajvDraft04 from 'ajv-draft-04';
import ajvFormats from 'ajv-formats';

// Both are CommonJS modules with `exports.default`: Node's ESM loader hands over module.exports
// (whose .default is the same function); TypeScript under NodeNext sees only the namespace.
const Ajv04 = ajvDraft04.default;
const addFormats = ajvFormats.default;

const BASE = 'https://opencontainers.org/schema/';

export const SCHEMA_FILES = {
  manifest: 'image-manifest-schema.json',
  index: 'image-index-schema.json',
  config: 'config-schema.json',
  layout: 'image-layout-schema.json',
  descriptor: 'content-descriptor.json',
} as const;

export type SchemaName = keyof typeof SCHEMA_FILES;

function localize(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(localize);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'id' && typeof value === 'string') continue;
    // The files say https://json-schema.org/draft-04/schema#; Ajv knows draft-04 by its http id.
    if (key === '$schema') {
      out[key] = 'http://json-schema.org/draft-04/schema#';
      continue;
    }
    if (key === '$ref' && typeof value === 'string' && !value.startsWith('#')) {
      const [path = '', fragment = ''] = value.split('#');
      out[key] = `${BASE}${path.slice(path.lastIndexOf('/') + 1)}#${fragment}`;
      continue;
    }
    out[key] = localize(value);
  }
  return out;
}

export interface OciSchemas {
  /** Problems of `doc` against the schema, one line each; empty when it is valid. */
  problems(name: SchemaName, doc: unknown): string[];
}

export function loadOciSchemas(dir: string): OciSchemas {
  const ajv = new Ajv04({ allErrors: true, strict: false });
  addFormats(ajv);
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const schema = localize(JSON.parse(readFileSync(join(dir, file), 'utf8'))) as Record<string, unknown>;
    ajv.addSchema({ ...schema, id: `${BASE}${file}` });
  }
  const validators = new Map<SchemaName, ValidateFunction>();
  for (const [name, file] of Object.entries(SCHEMA_FILES) as [SchemaName, string][]) {
    const validate = ajv.getSchema(`${BASE}${file}`);
    if (!validate) throw new Error(`schema ${file} not found in ${dir}`);
    validators.set(name, validate);
  }
  return {
    problems(name, doc) {
      const validate = validators.get(name) as ValidateFunction;
      if (validate(doc)) return [];
      return (validate.errors ?? []).map(
        (e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`,
      );
    },
  };
}
