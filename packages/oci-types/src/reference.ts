import { type Digest, parseDigest } from './digest.js';
import { InvalidReferenceError } from './errors.js';

/** Registry host Docker Hub images are named under (the API itself lives at registry-1.docker.io). */
export const DOCKER_HUB = 'docker.io';
const LEGACY_DOCKER_HUB = 'index.docker.io';
/** The tag a reference gets when it names neither tag nor digest, as in docker. */
export const DEFAULT_TAG = 'latest';
const MAX_NAME_LENGTH = 255;
const MAX_TAG_LENGTH = 128;

// Grammar of github.com/distribution/reference, written out here (reference.go documents it).
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[a-fA-F0-9:]+\]$/;
const PORT = /^[0-9]+$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]*$/;
const HEX64 = /^[a-f0-9]{64}$/;

/** The parts of an image reference, as held by `Reference` and compared by `Reference.equals`. */
export interface ReferenceParts {
  /** Registry host with optional port, normalized: `docker.io`, `ghcr.io`, `localhost:5000`, `[::1]:5000`. */
  registry: string;
  /** Repository path inside the registry: `library/ubuntu`, `org/app`. */
  repository: string;
  tag?: string | undefined;
  digest?: Digest | undefined;
}

/** A parsed, normalized image reference. Immutable; `with*` return copies. */
export class Reference implements ReferenceParts {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;

  constructor(parts: ReferenceParts) {
    this.registry = parts.registry;
    this.repository = parts.repository;
    this.tag = parts.tag;
    this.digest = parts.digest;
  }

  /** `registry/repository`, e.g. `docker.io/library/ubuntu`. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** What to ask the registry for: the digest when pinned, else the tag (`latest` when neither). */
  get identifier(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  /** Fully-qualified string: `docker.io/library/ubuntu:22.04`, `ghcr.io/o/r@sha256:...`. */
  toString(): string {
    return `${this.name}${this.tag !== undefined ? `:${this.tag}` : ''}${this.digest !== undefined ? `@${this.digest}` : ''}`;
  }

  /** The short form docker prints: `ubuntu:22.04`, `user/app`, `ghcr.io/o/r:1`. */
  familiar(): string {
    return `${familiarName(this.registry, this.repository)}${this.tag !== undefined ? `:${this.tag}` : ''}${
      this.digest !== undefined ? `@${this.digest}` : ''
    }`;
  }

  /** Familiar repository name without tag or digest: `ubuntu`, `user/app`, `localhost:5000/x`. */
  familiarName(): string {
    return familiarName(this.registry, this.repository);
  }

  /** Same repository with another tag; the digest is dropped, as the new tag may name other content. */
  withTag(tag: string): Reference {
    validateTag(tag, `${this.name}:${tag}`);
    return new Reference({ registry: this.registry, repository: this.repository, tag, digest: undefined });
  }

  /** Same repository and tag, pinned to a digest. Throws {@link InvalidReferenceError} for a bad digest. */
  withDigest(digest: string): Reference {
    const d = validateDigest(digest, `${this.name}@${digest}`);
    return new Reference({ registry: this.registry, repository: this.repository, tag: this.tag, digest: d });
  }

  /** Same repository, no tag and no digest. */
  repo(): Reference {
    return new Reference({ registry: this.registry, repository: this.repository });
  }

  /** Same registry, another repository (for cross-repository mounts), keeping tag and digest. */
  inRepository(repository: string): Reference {
    const r = parseReference(`${this.registry}/${repository}`, { defaultTag: false });
    return new Reference({
      registry: r.registry,
      repository: r.repository,
      tag: this.tag,
      digest: this.digest,
    });
  }

  /** True when registry, repository, tag and digest are all the same. */
  equals(other: ReferenceParts): boolean {
    return (
      this.registry === other.registry &&
      this.repository === other.repository &&
      this.tag === other.tag &&
      this.digest === other.digest
    );
  }

  toJSON(): string {
    return this.toString();
  }
}

/** Options of `parseReference`. */
export interface ParseReferenceOptions {
  /**
   * Tag to add when the input has neither tag nor digest. Default `latest`, as docker does;
   * `false` leaves the reference untagged (for repository names: `pd tags ubuntu`).
   */
  defaultTag?: string | false;
}

/**
 * Parse and normalize an image reference the way docker does (`ParseNormalizedNamed` +
 * `TagNameOnly`). Examples: `ubuntu` → `docker.io/library/ubuntu:latest`, `localhost:5000/x`,
 * `[::1]:5000/x:tag`, `name@sha256:…`, `name:tag@sha256:…`. Throws {@link InvalidReferenceError}
 * naming the problem.
 */
export function parseReference(input: string, options: ParseReferenceOptions = {}): Reference {
  if (typeof input !== 'string' || input.length === 0)
    throw new InvalidReferenceError(String(input ?? ''), 'empty');
  if (input !== input.trim())
    throw new InvalidReferenceError(input, 'contains leading or trailing whitespace');
  if (HEX64.test(input)) {
    throw new InvalidReferenceError(
      input,
      'a bare 64-character hex string is ambiguous',
      'write name@sha256:<hex> to pin a digest',
    );
  }

  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = validateDigest(rest.slice(at + 1), input);
    rest = rest.slice(0, at);
    if (rest.length === 0) {
      throw new InvalidReferenceError(
        input,
        'a digest needs a repository name before "@"',
        'e.g. ubuntu@sha256:<hex>',
      );
    }
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  // A colon after the last slash separates the tag; before it, it belongs to a host:port.
  if (colon > lastSlash && !(lastSlash === -1 && rest.startsWith('['))) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    validateTag(tag, input);
  }

  const { registry, repository } = splitName(rest, input);
  if (tag === undefined && digest === undefined && options.defaultTag !== false) {
    tag = options.defaultTag ?? DEFAULT_TAG;
  }
  return new Reference({ registry, repository, tag, digest });
}

/** Like `parseReference`, but returns undefined instead of throwing. */
export function tryParseReference(input: string, options?: ParseReferenceOptions): Reference | undefined {
  try {
    return parseReference(input, options);
  } catch {
    return undefined;
  }
}

/** A repository reference (`ubuntu`, `localhost:5000/app`) that must carry neither tag nor digest. */
export function parseRepository(input: string): Reference {
  const ref = parseReference(input, { defaultTag: false });
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new InvalidReferenceError(input, 'expected a repository without tag or digest');
  }
  return ref;
}

function splitName(name: string, input: string): { registry: string; repository: string } {
  if (name.length === 0) throw new InvalidReferenceError(input, 'missing repository name');
  let registry: string;
  let remainder: string;
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  // docker's rule: the first component is a registry host when it has a dot or a colon,
  // is "localhost", or has uppercase letters (repository paths are always lowercase).
  if (slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    registry = DOCKER_HUB;
    remainder = name;
  } else {
    registry = first;
    remainder = name.slice(slash + 1);
  }
  validateRegistry(registry, input);
  if (registry === LEGACY_DOCKER_HUB) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !remainder.includes('/')) remainder = `library/${remainder}`;

  if (remainder.length === 0)
    throw new InvalidReferenceError(input, 'missing repository name after the registry');
  if (remainder.toLowerCase() !== remainder) {
    throw new InvalidReferenceError(input, 'repository name must be lowercase');
  }
  for (const component of remainder.split('/')) {
    if (component.length === 0)
      throw new InvalidReferenceError(input, 'empty path component in repository name');
    if (!PATH_COMPONENT.test(component)) {
      throw new InvalidReferenceError(
        input,
        `invalid repository path component "${component}"`,
        'use lowercase letters, digits and single separators (. _ __ -) between them',
      );
    }
  }
  // distribution/reference bounds the path only (registry excluded; "library/" included).
  if (remainder.length > MAX_NAME_LENGTH) {
    throw new InvalidReferenceError(
      input,
      `repository path must not be more than ${MAX_NAME_LENGTH} characters, got ${remainder.length}`,
    );
  }
  return { registry, repository: remainder };
}

function validateRegistry(registry: string, input: string): void {
  let host = registry;
  let port: string | undefined;
  if (registry.startsWith('[')) {
    const close = registry.indexOf(']');
    if (close === -1) throw new InvalidReferenceError(input, 'unterminated IPv6 address in registry');
    host = registry.slice(0, close + 1);
    const after = registry.slice(close + 1);
    if (after.length > 0) {
      if (!after.startsWith(':')) throw new InvalidReferenceError(input, `invalid registry "${registry}"`);
      port = after.slice(1);
    }
    if (!IPV6_HOST.test(host)) throw new InvalidReferenceError(input, `invalid IPv6 registry host "${host}"`);
  } else {
    const c = registry.indexOf(':');
    if (c !== -1) {
      host = registry.slice(0, c);
      port = registry.slice(c + 1);
    }
    if (host.length === 0) throw new InvalidReferenceError(input, 'empty registry host');
    for (const part of host.split('.')) {
      if (!DOMAIN_COMPONENT.test(part))
        throw new InvalidReferenceError(input, `invalid registry host "${host}"`);
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) {
    throw new InvalidReferenceError(input, `invalid registry port "${port}"`);
  }
}

function validateTag(tag: string, input: string): void {
  if (tag.length === 0) throw new InvalidReferenceError(input, 'empty tag after ":"');
  if (tag.length > MAX_TAG_LENGTH) {
    throw new InvalidReferenceError(
      input,
      `tag is ${tag.length} characters long, at most ${MAX_TAG_LENGTH} are allowed`,
    );
  }
  if (!TAG.test(tag)) {
    throw new InvalidReferenceError(
      input,
      `invalid tag "${tag}"`,
      'a tag holds letters, digits, "_", "." and "-" and does not start with "." or "-"',
    );
  }
}

function validateDigest(digest: string, input: string): Digest {
  try {
    parseDigest(digest);
  } catch (e) {
    throw new InvalidReferenceError(input, (e as Error).message);
  }
  return digest as Digest;
}

function familiarName(registry: string, repository: string): string {
  if (registry !== DOCKER_HUB) return `${registry}/${repository}`;
  if (repository.startsWith('library/') && repository.indexOf('/', 'library/'.length) === -1) {
    return repository.slice('library/'.length);
  }
  return repository;
}

/** True for hosts pd may talk to over plain HTTP without being told: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackRegistry(registry: string): boolean {
  let host = registry;
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']'));
  else if (host.includes(':')) host = host.slice(0, host.lastIndexOf(':'));
  return (
    host === 'localhost' ||
    host === '::1' ||
    /^127(?:\.\d{1,3}){3}$/.test(host) ||
    host.endsWith('.localhost')
  );
}
