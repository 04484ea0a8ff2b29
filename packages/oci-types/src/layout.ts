import { checkDescriptor, type Descriptor } from './descriptor.js';
import { checkOciIndex, type OciImageIndex } from './manifest.js';
import {
  arrayOf,
  type Check,
  digest,
  fail,
  mapOf,
  nullable,
  object,
  optional,
  pattern,
  required,
  string,
  validateWith,
} from './validate.js';

/** The `oci-layout` file at the root of an OCI image layout (image-spec image-layout.md). */
export interface OciLayout {
  imageLayoutVersion: string;
}

/** The `imageLayoutVersion` pd writes in `oci-layout`. */
export const OCI_LAYOUT_VERSION = '1.0.0';

/** The check behind `validateOciLayout`: `imageLayoutVersion` must look like `1.0.0`. */
export const checkOciLayout: Check<OciLayout> = object({
  imageLayoutVersion: required(pattern(/^\d+\.\d+\.\d+$/, 'a version like 1.0.0')),
});

/** Validate an `oci-layout` file; returns it typed or throws `ValidationError`. */
export function validateOciLayout(value: unknown): OciLayout {
  return validateWith(checkOciLayout, value, 'oci-layout file');
}

/**
 * Validate the `index.json` of an OCI image layout; returns it typed or throws `ValidationError`.
 * It must be an OCI index: a Docker manifest list is refused.
 */
export function validateOciLayoutIndex(value: unknown): OciImageIndex {
  return validateWith(checkOciIndex, value, 'OCI layout index.json');
}

/**
 * A path inside an archive, as `docker save` writes them (`<hex>/layer.tar`, `blobs/sha256/<hex>`):
 * relative and without `..`, so that following it can never leave the archive.
 */
const archivePath: Check<string> = (value, path, what) => {
  const s = string(value, path, what);
  if (s.length === 0) fail(what, path, 'must not be empty');
  if (s.startsWith('/') || s.includes('\\') || s.split('/').some((c) => c === '..')) {
    fail(what, path, `expected a relative path inside the archive, got ${JSON.stringify(s)}`);
  }
  return s;
};

/** One image of a docker-archive (`docker save`) `manifest.json`. */
export interface DockerArchiveEntry {
  /** Path of the config JSON inside the archive. */
  Config: string;
  /** Familiar references (`busybox:latest`); null when the image was saved by ID. */
  RepoTags?: string[] | null;
  /** Paths of the layer tars, base first. */
  Layers: string[];
  /** Descriptors of foreign layers, keyed by their diff ID. */
  LayerSources?: Record<string, Descriptor>;
  Parent?: string;
}

/** The `manifest.json` of a docker-archive (`docker save`): one entry per saved image. */
export type DockerArchiveManifest = DockerArchiveEntry[];

/** The check behind `validateDockerArchiveManifest`. */
export const checkDockerArchiveManifest: Check<DockerArchiveManifest> = arrayOf(
  object({
    Config: required(archivePath),
    RepoTags: optional(nullable(arrayOf(string))),
    Layers: required(arrayOf(archivePath)),
    LayerSources: optional(mapOf(checkDescriptor, digest)),
    Parent: optional(string),
  }),
);

/**
 * Validate a docker-archive `manifest.json`; returns it typed or throws `ValidationError`. Paths
 * must be relative and free of `..`, so that following them cannot leave the archive.
 */
export function validateDockerArchiveManifest(value: unknown): DockerArchiveManifest {
  return validateWith(checkDockerArchiveManifest, value, 'docker archive manifest.json');
}

/** The legacy `repositories` file of a docker archive: repository → tag → top layer ID (64 hex). */
export type DockerRepositories = Record<string, Record<string, string>>;

/** The check behind `validateDockerRepositories`: every layer ID is 64 lowercase hex characters. */
export const checkDockerRepositories: Check<DockerRepositories> = mapOf(
  mapOf(pattern(/^[a-f0-9]{64}$/, 'a layer ID of 64 lowercase hex characters')),
);

/** Validate a docker-archive `repositories` file; returns it typed or throws `ValidationError`. */
export function validateDockerRepositories(value: unknown): DockerRepositories {
  return validateWith(checkDockerRepositories, value, 'docker archive repositories file');
}
