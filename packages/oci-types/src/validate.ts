import { type Digest, parseDigestSyntax } from './digest.js';
import { ValidationError } from './errors.js';

/**
 * A check returns its input, typed, or throws `ValidationError` naming the JSON path.
 * Checks never copy: objects keep the fields they do not know, so a document re-serialized
 * after validation loses nothing. `what` names the document for the message ("image manifest").
 */
export type Check<T> = (value: unknown, path: string, what: string) => T;

/** A JSON value, as `JSON.parse` returns it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Run a check on a whole document (path `$`): returns the document typed, or throws
 * `ValidationError` whose message starts with `invalid <what>: $`.
 */
export function validateWith<T>(check: Check<T>, value: unknown, what: string): T {
  return check(value, '$', what);
}

export function fail(what: string, path: string, problem: string): never {
  throw new ValidationError(what, path, problem);
}

/** A short, safe rendering of a value for messages: `"abc"`, `42`, `null`, `an array`, `an object`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `$.a.b`, `$.annotations["org.opencontainers.image.created"]`, `$.layers[2]`. */
export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const string: Check<string> = (value, path, what) => {
  if (typeof value !== 'string') fail(what, path, `expected a string, got ${describeValue(value)}`);
  return value;
};

export const nonEmptyString: Check<string> = (value, path, what) => {
  if (string(value, path, what).length === 0) fail(what, path, 'must not be empty');
  return value as string;
};

export const boolean: Check<boolean> = (value, path, what) => {
  if (typeof value !== 'boolean') fail(what, path, `expected true or false, got ${describeValue(value)}`);
  return value;
};

export interface IntegerBounds {
  min?: number;
  max?: number;
}

/** An integer within bounds; without `max`, within Number.MAX_SAFE_INTEGER (beyond it JSON numbers lose precision). */
export function integer(bounds: IntegerBounds = {}): Check<number> {
  const min = bounds.min ?? -Number.MAX_SAFE_INTEGER;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  return (value, path, what) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      fail(what, path, `expected an integer, got ${describeValue(value)}`);
    }
    if (!Number.isInteger(value)) fail(what, path, `expected an integer, got ${value}`);
    if (value < min) {
      fail(
        what,
        path,
        min === 0 ? `must not be negative, got ${value}` : `must be at least ${min}, got ${value}`,
      );
    }
    if (value > max) {
      fail(
        what,
        path,
        max === Number.MAX_SAFE_INTEGER
          ? `is larger than the largest safe integer (2^53-1), got ${value}`
          : `must be at most ${max}, got ${value}`,
      );
    }
    return value;
  };
}

/** A byte count: a non-negative safe integer. */
export const size: Check<number> = integer({ min: 0 });

/**
 * Any non-negative integer, even beyond 2^53 (runtime-spec rlimits hold uint64 values such as
 * RLIM_INFINITY, which JSON.parse can only approximate; they are kept, not rejected).
 */
export const uint64: Check<number> = (value, path, what) => {
  if (typeof value !== 'number' || !Number.isFinite(value) || !Number.isInteger(value)) {
    fail(what, path, `expected an integer, got ${describeValue(value)}`);
  }
  if (value < 0) fail(what, path, `must not be negative, got ${value}`);
  return value;
};

/** A number (integer or not), for fields the specs type as int64 but where -1 or big values appear. */
export const number: Check<number> = (value, path, what) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    fail(what, path, `expected a number, got ${describeValue(value)}`);
  }
  return value;
};

export function literal<const T extends string | number | boolean>(expected: T): Check<T> {
  return (value, path, what) => {
    if (value !== expected)
      fail(what, path, `expected ${JSON.stringify(expected)}, got ${describeValue(value)}`);
    return expected;
  };
}

export function oneOf<const T extends string>(values: readonly T[]): Check<T> {
  return (value, path, what) => {
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
      fail(what, path, `expected one of ${values.join(', ')}, got ${describeValue(value)}`);
    }
    return value as T;
  };
}

export function pattern(re: RegExp, expected: string): Check<string> {
  return (value, path, what) => {
    if (typeof value !== 'string' || !re.test(value)) {
      fail(what, path, `expected ${expected}, got ${describeValue(value)}`);
    }
    return value;
  };
}

/** Adds a condition to a check; `problem` returns a message when the value is wrong. */
export function refine<T>(check: Check<T>, problem: (value: T) => string | undefined): Check<T> {
  return (value, path, what) => {
    const v = check(value, path, what);
    const p = problem(v);
    if (p !== undefined) fail(what, path, p);
    return v;
  };
}

export function nullable<T>(check: Check<T>): Check<T | null> {
  return (value, path, what) => (value === null ? null : check(value, path, what));
}

export function arrayOf<T>(item: Check<T>, options: { minItems?: number } = {}): Check<T[]> {
  return (value, path, what) => {
    if (!Array.isArray(value)) fail(what, path, `expected an array, got ${describeValue(value)}`);
    if (options.minItems !== undefined && value.length < options.minItems) {
      fail(what, path, `must hold at least ${options.minItems} item${options.minItems === 1 ? '' : 's'}`);
    }
    for (let i = 0; i < value.length; i++) item(value[i], childPath(path, i), what);
    return value as T[];
  };
}

/** An object used as a map (annotations, labels): every value passes `item`, every key passes `key`. */
export function mapOf<T>(item: Check<T>, key?: Check<string>): Check<Record<string, T>> {
  return (value, path, what) => {
    if (!isPlainObject(value)) fail(what, path, `expected an object, got ${describeValue(value)}`);
    for (const k of Object.keys(value)) {
      const at = childPath(path, k);
      if (key) key(k, at, what);
      item(value[k], at, what);
    }
    return value as Record<string, T>;
  };
}

/** A field of a `v.object` shape: its check, and whether it must be present (`v.required`, `v.optional`). */
export interface Field<T, Required extends boolean> {
  readonly check: Check<T>;
  readonly required: Required;
}

export function required<T>(check: Check<T>): Field<T, true> {
  return { check, required: true };
}

export function optional<T>(check: Check<T>): Field<T, false> {
  return { check, required: false };
}

/** The fields of a `v.object` check, by name. */
export type Shape = Record<string, Field<unknown, boolean>>;

type FieldType<F> = F extends Field<infer T, boolean> ? T : never;
type RequiredKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends Field<unknown, true> ? K : never;
}[keyof S];
type OptionalKeys<S extends Shape> = Exclude<keyof S, RequiredKeys<S>>;
type Flatten<T> = { [K in keyof T]: T[K] };

/** The type a `v.object` check with shape `S` returns. */
export type Infer<S extends Shape> = Flatten<
  { [K in RequiredKeys<S>]: FieldType<S[K]> } & { [K in OptionalKeys<S>]?: FieldType<S[K]> }
>;

/**
 * An object with known fields; fields not in the shape are kept as they are, unchecked.
 * Only own properties count, so a `__proto__` or `constructor` key in the JSON is just data.
 */
export function object<S extends Shape>(shape: S): Check<Infer<S>> {
  const entries = Object.entries(shape);
  return (value, path, what) => {
    if (!isPlainObject(value)) fail(what, path, `expected an object, got ${describeValue(value)}`);
    for (const [key, field] of entries) {
      const at = childPath(path, key);
      if (!Object.hasOwn(value, key)) {
        if (field.required) fail(what, at, 'is missing');
        continue;
      }
      field.check(value[key], at, what);
    }
    return value as Infer<S>;
  };
}

/**
 * Like {@link object}, but a field the shape does not know is an error naming it: for files
 * people write (pd.yaml, sync.yaml), where an unknown field is a typo.
 */
export function strictObject<S extends Shape>(shape: S): Check<Infer<S>> {
  const known = Object.keys(shape);
  return objectWhere(shape, (value, path) => {
    const unknown = Object.keys(value).find((k) => !known.includes(k));
    return unknown === undefined
      ? undefined
      : { path: childPath(path, unknown), problem: `unknown field (expected one of ${known.join(', ')})` };
  });
}

/** Like {@link object}, then a whole-object condition (fields that depend on each other). */
export function objectWhere<S extends Shape>(
  shape: S,
  problem: (value: Infer<S>, path: string) => { path: string; problem: string } | undefined,
): Check<Infer<S>> {
  const base = object(shape);
  return (value, path, what) => {
    const v = base(value, path, what);
    const p = problem(v, path);
    if (p) fail(what, p.path, p.problem);
    return v;
  };
}

/**
 * A digest by the image-spec grammar; sha256 and sha512 ones also by their encoding. Unregistered
 * algorithms pass (descriptor.md: implementations SHOULD allow them); only hashing such content fails.
 */
export const digest: Check<Digest> = (value, path, what) => {
  if (typeof value !== 'string') {
    fail(what, path, `expected a digest like sha256:<64 hex>, got ${describeValue(value)}`);
  }
  try {
    parseDigestSyntax(value);
  } catch (e) {
    const reason = (e as Error).message.replace(/^invalid digest "[^"]*": /, '');
    fail(what, path, `expected a digest like sha256:<64 hex>, got ${describeValue(value)} (${reason})`);
  }
  return value as Digest;
};

// RFC 6838 section 4.2: type "/" subtype, each a restricted-name of 1 to 127 characters.
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

export const mediaType: Check<string> = pattern(
  MEDIA_TYPE,
  'a media type like application/vnd.oci.image.manifest.v1+json',
);

// RFC 3339 date-time; the date is checked for real calendar values below.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export const timestamp: Check<string> = (value, path, what) => {
  const s = string(value, path, what);
  const m = RFC3339.exec(s);
  const ok =
    m !== null &&
    Number(m[2]) >= 1 &&
    Number(m[2]) <= 12 &&
    Number(m[3]) >= 1 &&
    Number(m[3]) <= 31 &&
    Number(m[4]) <= 23 &&
    Number(m[5]) <= 59 &&
    Number(m[6]) <= 60;
  if (!ok)
    fail(what, path, `expected an RFC 3339 timestamp like 2024-01-02T03:04:05Z, got ${describeValue(s)}`);
  return s;
};

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const base64: Check<string> = pattern(BASE64, 'standard base64 (RFC 4648 section 4, padded)');

export const url: Check<string> = (value, path, what) => {
  const s = string(value, path, what);
  if (!URL.canParse(s)) fail(what, path, `expected a URL, got ${describeValue(s)}`);
  return s;
};

export const stringArray: Check<string[]> = arrayOf(string);
export const stringMap: Check<Record<string, string>> = mapOf(string);
/** Go maps of empty structs (`ExposedPorts`, `Volumes`): keys matter, values are `{}`. */
export const objectMap: Check<Record<string, Record<string, unknown>>> = mapOf((value, path, what) => {
  if (!isPlainObject(value)) fail(what, path, `expected an object, got ${describeValue(value)}`);
  return value;
});
