/**
 * Base of every error pd throws on purpose. `message` says what went wrong in one line;
 * `hint` says why, or what to do about it. The CLI prints `pd: <message> (<hint>)`.
 * Messages and hints must never contain secrets (passwords, tokens, Authorization headers).
 */
export class PdError extends Error {
  /** Stable machine-readable code, e.g. `INVALID_REFERENCE`, `DIGEST_MISMATCH`. */
  readonly code: string;
  readonly hint: string | undefined;

  constructor(message: string, options: { code?: string; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? 'PD_ERROR';
    this.hint = options.hint;
  }
}

/** A document (manifest, config, index...) does not match its schema. `path` is a JSON path like `$.layers[2].digest`. */
export class ValidationError extends PdError {
  readonly path: string;
  readonly problem: string;
  constructor(what: string, path: string, problem: string, options: { hint?: string; cause?: unknown } = {}) {
    super(`invalid ${what}: ${path}: ${problem}`, { code: 'INVALID_DOCUMENT', ...options });
    this.path = path;
    this.problem = problem;
  }
}

/** A reference string (`ubuntu:22.04`, `ghcr.io/o/r@sha256:...`) does not follow the docker grammar. */
export class InvalidReferenceError extends PdError {
  readonly input: string;
  constructor(input: string, problem: string, hint?: string) {
    super(`invalid reference "${truncate(input)}": ${problem}`, {
      code: 'INVALID_REFERENCE',
      ...(hint ? { hint } : {}),
    });
    this.input = input;
  }
}

/**
 * A digest string is malformed: not `algorithm:encoded` by the image-spec grammar, or a sha256 or
 * sha512 encoding of the wrong length or not lowercase hex. `input` holds the string.
 */
export class InvalidDigestError extends PdError {
  readonly input: string;
  constructor(
    input: string,
    problem: string,
    options: { message?: string; code?: string; hint?: string } = {},
  ) {
    super(options.message ?? `invalid digest "${truncate(input)}": ${problem}`, {
      code: options.code ?? 'INVALID_DIGEST',
      hint: options.hint ?? 'a digest looks like sha256:<64 lowercase hex characters>',
    });
    this.input = input;
  }
}

/**
 * A well-formed digest whose algorithm pd cannot compute (anything but sha256 and sha512).
 * Documents holding such digests validate (image-spec descriptor.md: implementations SHOULD let
 * unrecognized algorithms pass); this is thrown only when the content has to be hashed or verified.
 */
export class UnsupportedDigestAlgorithmError extends InvalidDigestError {
  readonly algorithm: string;
  constructor(input: string, algorithm: string) {
    super(input, `unsupported algorithm "${truncate(algorithm, 40)}"`, {
      message: `unsupported algorithm "${truncate(algorithm, 40)}" in digest "${truncate(input)}" (pd hashes sha256 and sha512)`,
      code: 'UNSUPPORTED_DIGEST_ALGORITHM',
      hint: 'the digest is well-formed, but pd can hash only sha256 and sha512, so this content cannot be verified',
    });
    this.algorithm = algorithm;
  }
}

/** Content did not hash to the digest it was requested or described by. The bytes must not be used. */
export class DigestMismatchError extends PdError {
  readonly expected: string;
  readonly actual: string;
  readonly subject: string;
  constructor(subject: string, expected: string, actual: string) {
    super(`digest mismatch for ${subject}: expected ${expected}, got ${actual}`, {
      code: 'DIGEST_MISMATCH',
      hint: 'the content was corrupted or tampered with in transit or at rest; nothing was written',
    });
    this.subject = subject;
    this.expected = expected;
    this.actual = actual;
  }
}

/** Content was longer or shorter than its descriptor said. */
export class SizeMismatchError extends PdError {
  readonly expected: number;
  readonly actual: number;
  readonly subject: string;
  constructor(subject: string, expected: number, actual: number) {
    super(`size mismatch for ${subject}: expected ${expected} bytes, got ${actual}`, {
      code: 'SIZE_MISMATCH',
      hint: 'the content was truncated or its descriptor is wrong',
    });
    this.subject = subject;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A media type pd does not read or cannot convert: Docker schema 1 manifests, unknown manifest
 * types, artifacts or layers that have no Docker schema 2 equivalent. `mediaType` holds it.
 */
export class UnsupportedMediaTypeError extends PdError {
  readonly mediaType: string;
  constructor(mediaType: string, what: string, hint?: string) {
    super(`unsupported ${what} media type "${truncate(mediaType)}"`, {
      code: 'UNSUPPORTED_MEDIA_TYPE',
      ...(hint ? { hint } : {}),
    });
    this.mediaType = mediaType;
  }
}

/** A platform string does not parse as `os/arch[/variant]` (thrown by `parsePlatform`). */
export class InvalidPlatformError extends PdError {
  constructor(input: string, problem: string) {
    super(`invalid platform "${truncate(input)}": ${problem}`, {
      code: 'INVALID_PLATFORM',
      hint: 'a platform looks like os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8',
    });
  }
}

/** An index / manifest list has no entry for the wanted platform. */
export class PlatformNotFoundError extends PdError {
  readonly wanted: string;
  readonly available: string[];
  constructor(wanted: string, available: string[]) {
    super(`no image for platform ${wanted}`, {
      code: 'PLATFORM_NOT_FOUND',
      hint: available.length ? `available: ${available.join(', ')}` : 'the index lists no platforms',
    });
    this.wanted = wanted;
    this.available = available;
  }
}

/** A document (manifest, config...) is larger than the limit pd holds in memory. */
export class DocumentTooLargeError extends PdError {
  readonly size: number;
  readonly limit: number;
  constructor(what: string, size: number, limit: number) {
    super(`${what} is ${size} bytes, more than the limit of ${limit}`, {
      code: 'DOCUMENT_TOO_LARGE',
      hint: 'manifests and configs are small JSON documents; raise the maxSize option only for a source you trust',
    });
    this.size = size;
    this.limit = limit;
  }
}

/**
 * A string cut to `max` characters (default 200), with `…` appended when it was longer.
 * Error messages quote untrusted input through it, so a huge value cannot flood a message.
 */
export function truncate(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
