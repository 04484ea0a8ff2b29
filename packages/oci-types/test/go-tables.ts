/**
 * Reads the OCI image-spec's own test tables out of its Go sources at test time, so pd's
 * validators are checked against exactly the cases the spec's validator is held to, and the
 * cases are never copied into this repository. Just enough Go for those files: tokens
 * (comments skipped, raw and interpreted strings decoded), table-driven tests of the form
 * `for i, tt := range []struct{...}{ {field: value, ...}, ... }`, string maps and constants.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

type Token =
  | { kind: 'string'; value: string; line: number }
  | { kind: 'word'; value: string; line: number }
  | { kind: 'punct'; value: string; line: number };

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    if (c === '\n') line++;
    if (/\s/.test(c)) {
      i++;
    } else if (source.startsWith('//', i)) {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (source.startsWith('/*', i)) {
      const end = source.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`unterminated comment at line ${line}`);
      line += countLines(source.slice(i, end));
      i = end + 2;
    } else if (c === '`') {
      const end = source.indexOf('`', i + 1);
      if (end < 0) throw new Error(`unterminated raw string at line ${line}`);
      // Go drops carriage returns from raw strings.
      const value = source.slice(i + 1, end).replaceAll('\r', '');
      tokens.push({ kind: 'string', value, line });
      line += countLines(value);
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== '"') j += source[j] === '\\' ? 2 : 1;
      // The escapes these files use (\n, \t, \", \\, \uXXXX) mean the same in JSON.
      tokens.push({ kind: 'string', value: JSON.parse(source.slice(i, j + 1)) as string, line });
      i = j + 1;
    } else if (/[A-Za-z0-9_]/.test(c)) {
      let j = i;
      while (j < source.length && /[A-Za-z0-9_]/.test(source[j] as string)) j++;
      tokens.push({ kind: 'word', value: source.slice(i, j), line });
      i = j;
    } else {
      tokens.push({ kind: 'punct', value: c, line });
      i++;
    }
  }
  return tokens;
}

function countLines(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === '\n') n++;
  return n;
}

/** Index of the token that closes the bracket opened at `open`. */
function closing(tokens: Token[], open: number): number {
  const pairs: Record<string, string> = { '{': '}', '(': ')', '[': ']' };
  const stack: string[] = [];
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if (t.kind !== 'punct') continue;
    if (pairs[t.value]) stack.push(pairs[t.value] as string);
    else if (t.value === stack.at(-1)) {
      stack.pop();
      if (stack.length === 0) return i;
    }
  }
  throw new Error(`unbalanced bracket at line ${tokens[open]?.line}`);
}

const is = (t: Token | undefined, kind: Token['kind'], value?: string): boolean =>
  t !== undefined && t.kind === kind && (value === undefined || t.value === value);

export interface GoCase {
  /** Position in its table, as the Go test reports it (`test %d`). */
  index: number;
  line: number;
  /** Field values: strings, and `true`/`false` for booleans. A field left out is absent. */
  fields: Record<string, string | boolean>;
}

export interface GoTable {
  file: string;
  test: string;
  /** The schema validator the test calls, e.g. `ValidatorMediaTypeManifest`. */
  validator: string;
  /** Name of the field holding the document. */
  documentField: string;
  /** Whether the test rewrites Docker media types to OCI ones first (`convertFormats`). */
  converts: boolean;
  /** Field checked against `digest.FromString(document)`, if any. */
  digestField: string | undefined;
  cases: GoCase[];
}

/** Every table-driven test in one Go file. */
export function tablesOf(file: string, source: string): GoTable[] {
  const tokens = tokenize(source);
  const tables: GoTable[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (!is(tokens[i], 'word', 'func') || !is(tokens[i + 1], 'word') || !is(tokens[i + 2], 'punct', '(')) {
      continue;
    }
    const test = tokens[i + 1]?.value as string;
    const bodyOpen = tokens.findIndex((t, k) => k > i && is(t, 'punct', '{'));
    const bodyClose = closing(tokens, bodyOpen);
    const body = tokens.slice(bodyOpen, bodyClose + 1);
    i = bodyClose;
    const at = body.findIndex(
      (t, k) => is(t, 'word', 'range') && is(body[k + 1], 'punct', '[') && is(body[k + 3], 'word', 'struct'),
    );
    if (at < 0) continue;
    const structOpen = at + 4;
    const literalOpen = closing(body, structOpen) + 1;
    if (!is(body[literalOpen], 'punct', '{')) throw new Error(`${file} ${test}: no table literal`);
    const literalClose = closing(body, literalOpen);
    const cases: GoCase[] = [];
    for (let k = literalOpen + 1; k < literalClose; k++) {
      if (!is(body[k], 'punct', '{')) continue;
      const end = closing(body, k);
      cases.push({ index: cases.length, line: body[k]?.line ?? 0, fields: fieldsOf(body.slice(k + 1, end)) });
      k = end;
    }
    const rest = body.slice(literalClose);
    const validator = rest.find(
      (t, k) => is(rest[k - 2], 'word', 'schema') && t.value.startsWith('Validator'),
    );
    if (!validator) throw new Error(`${file} ${test}: no schema validator call`);
    const declared = structFields(body.slice(structOpen + 1, literalOpen - 1));
    // Each table holds its document in its one string field; a digest.Digest field, when there
    // is one, is compared with digest.FromString(document).
    const documents = declared.filter((f) => f.type === 'string');
    if (documents.length !== 1) throw new Error(`${file} ${test}: expected one string field`);
    tables.push({
      file,
      test,
      validator: validator.value,
      documentField: (documents[0] as { name: string }).name,
      converts: rest.some((t) => is(t, 'word', 'convertFormats')),
      digestField: rest.some((t) => is(t, 'word', 'FromString'))
        ? declared.find((f) => f.type === 'digest')?.name
        : undefined,
      cases,
    });
  }
  return tables;
}

function structFields(tokens: Token[]): { name: string; type: string }[] {
  const fields: { name: string; type: string }[] = [];
  for (let k = 0; k + 1 < tokens.length; k++) {
    const name = tokens[k] as Token;
    const type = tokens[k + 1] as Token;
    if (name.kind !== 'word' || type.kind !== 'word') continue;
    // `digest digest.Digest`: the qualified type's last word is what matters here.
    const qualified = is(tokens[k + 2], 'punct', '.') ? (tokens[k + 3]?.value ?? type.value) : type.value;
    fields.push({ name: name.value, type: qualified === 'Digest' ? 'digest' : qualified });
    k += is(tokens[k + 2], 'punct', '.') ? 3 : 1;
  }
  return fields;
}

function fieldsOf(tokens: Token[]): Record<string, string | boolean> {
  const fields: Record<string, string | boolean> = {};
  for (let k = 0; k + 2 < tokens.length; k++) {
    if (!is(tokens[k], 'word') || !is(tokens[k + 1], 'punct', ':')) continue;
    const value = tokens[k + 2] as Token;
    const name = tokens[k]?.value as string;
    if (value.kind === 'string') fields[name] = value.value;
    else if (is(value, 'word', 'true') || is(value, 'word', 'false')) fields[name] = value.value === 'true';
    else throw new Error(`unexpected value for ${name} at line ${value.line}`);
    k += 2;
  }
  return fields;
}

/** `Name = "value"` constants (untyped or typed) of a Go file. */
export function stringConstants(source: string): Map<string, string> {
  const tokens = tokenize(source);
  const out = new Map<string, string>();
  for (let k = 0; k + 2 < tokens.length; k++) {
    if (is(tokens[k], 'word') && is(tokens[k + 1], 'punct', '=') && is(tokens[k + 2], 'string')) {
      out.set(tokens[k]?.value as string, tokens[k + 2]?.value as string);
    }
  }
  return out;
}

/** `Name Type = pkg.Const` constants, resolved through `known` (schema.go's validators). */
export function aliasConstants(source: string, known: Map<string, string>): Map<string, string> {
  const tokens = tokenize(source);
  const out = new Map<string, string>();
  for (let k = 0; k + 5 < tokens.length; k++) {
    if (
      is(tokens[k], 'word') &&
      is(tokens[k + 1], 'word') &&
      is(tokens[k + 2], 'punct', '=') &&
      is(tokens[k + 3], 'word') &&
      is(tokens[k + 4], 'punct', '.') &&
      is(tokens[k + 5], 'word')
    ) {
      const value = known.get(tokens[k + 5]?.value as string);
      if (value !== undefined) out.set(tokens[k]?.value as string, value);
    }
  }
  return out;
}

/** A `map[string]string{ "k": pkg.Const, ... }` literal assigned to `name`, values resolved through `known`. */
export function stringMap(source: string, name: string, known: Map<string, string>): Map<string, string> {
  const tokens = tokenize(source);
  const at = tokens.findIndex((t, k) => is(t, 'word', name) && is(tokens[k + 1], 'punct', '='));
  if (at < 0) throw new Error(`no ${name} in the source`);
  const open = tokens.findIndex((t, k) => k > at && is(t, 'punct', '{'));
  const close = closing(tokens, open);
  const out = new Map<string, string>();
  for (let k = open + 1; k < close; k++) {
    if (!is(tokens[k], 'string') || !is(tokens[k + 1], 'punct', ':')) continue;
    const v = tokens[k + 2] as Token;
    const resolved =
      v.kind === 'string'
        ? v.value
        : is(tokens[k + 3], 'punct', '.')
          ? known.get(tokens[k + 4]?.value ?? '')
          : undefined;
    if (resolved === undefined) throw new Error(`${name}: cannot resolve the value at line ${v.line}`);
    out.set(tokens[k]?.value as string, resolved);
  }
  return out;
}

export interface MarkdownExample {
  file: string;
  title: string;
  mediaType: string;
  body: string;
}

/**
 * The examples of the spec text that spec_test.go validates: fenced blocks tagged
 * `json,title=...&mediatype=...` in the Markdown files it names.
 */
export function markdownExamples(specDir: string, specTest: string): MarkdownExample[] {
  const files = [...specTest.matchAll(/validate\(t, "\.\.\/([\w.-]+\.md)"\)/g)].map((m) => m[1] as string);
  const out: MarkdownExample[] = [];
  for (const file of files) {
    const text = readFileSync(join(specDir, file), 'utf8');
    for (const m of text.matchAll(/^( *)```([^\n]*)\n([\s\S]*?)^\1```/gm)) {
      const [lang, attributes] = (m[2] as string).split(/,(.*)/s) as [string, string | undefined];
      if (attributes === undefined || lang.trim() === '') continue;
      const query = new URLSearchParams(attributes);
      const mediaType = query.get('mediatype');
      if (!mediaType) continue;
      const indent = (m[1] as string).length;
      const body = (m[3] as string)
        .split('\n')
        .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)))
        .join('\n');
      out.push({ file, title: query.get('title') ?? '', mediaType, body });
    }
  }
  return out;
}

export function goTestFiles(schemaDir: string): string[] {
  return readdirSync(schemaDir)
    .filter((f) => f.endsWith('_test.go'))
    .sort();
}
