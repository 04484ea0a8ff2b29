import { checkDescriptor, type Descriptor } from './descriptor.js';
import { UnsupportedMediaTypeError } from './errors.js';
import { convertMediaType, isConfigMediaType, MediaType } from './media-types.js';
import {
  arrayOf,
  type Check,
  childPath,
  describeValue,
  fail,
  isPlainObject,
  literal,
  mediaType,
  object,
  objectWhere,
  optional,
  required,
  stringMap,
  validateWith,
} from './validate.js';

/**
 * OCI image manifest (image-spec manifest.md). `mediaType` is optional on the wire (it SHOULD be
 * set); when set it is this type.
 */
export interface OciImageManifest {
  schemaVersion: 2;
  mediaType?: typeof MediaType.OciManifest;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  /** The manifest this one refers to (signatures, SBOMs: the referrers API). */
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Docker image manifest v2, schema 2 (distribution's manifest-v2-2.md). */
export interface DockerManifest {
  schemaVersion: 2;
  mediaType: typeof MediaType.DockerManifest;
  config: Descriptor;
  layers: Descriptor[];
}

/** An image manifest of either family; `mediaType` tells them apart (absent means OCI). */
export type ImageManifest = OciImageManifest | DockerManifest;

/** OCI image index (image-spec image-index.md): manifests for several platforms, or artifacts. */
export interface OciImageIndex {
  schemaVersion: 2;
  mediaType?: typeof MediaType.OciIndex;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Docker manifest list, the multi-platform "fat manifest" (distribution's manifest-v2-2.md). */
export interface DockerManifestList {
  schemaVersion: 2;
  mediaType: typeof MediaType.DockerManifestList;
  manifests: Descriptor[];
}

/** An index of either family; `mediaType` tells them apart (absent means OCI). */
export type ImageIndex = OciImageIndex | DockerManifestList;

const descriptors = arrayOf(checkDescriptor);

/**
 * The check behind `validateOciManifest`, for composing into other checks. An artifact whose config
 * is the empty descriptor must say what it is: manifest.md, "If the config.mediaType is set to the
 * empty value, the artifactType MUST be defined". Layers may be empty: the spec's "layers SHOULD
 * have at least one entry" is a SHOULD (the JSON schema's minItems is stricter than its prose), and
 * layerless images exist.
 */
export const checkOciManifest: Check<OciImageManifest> = objectWhere(
  {
    schemaVersion: required(literal(2)),
    mediaType: optional(literal(MediaType.OciManifest)),
    artifactType: optional(mediaType),
    config: required(checkDescriptor),
    layers: required(descriptors),
    subject: optional(checkDescriptor),
    annotations: optional(stringMap),
  },
  (m, path) =>
    m.config.mediaType === MediaType.OciEmpty && m.artifactType === undefined
      ? {
          path: childPath(path, 'artifactType'),
          problem: `is missing: a manifest whose config is the empty descriptor (${MediaType.OciEmpty}) is an artifact and must name its type`,
        }
      : undefined,
);

/** The check behind `validateDockerManifest`; `mediaType` is required and must be the Docker one. */
export const checkDockerManifest: Check<DockerManifest> = object({
  schemaVersion: required(literal(2)),
  mediaType: required(literal(MediaType.DockerManifest)),
  config: required(checkDescriptor),
  layers: required(descriptors),
});

/** The check behind `validateOciIndex`; `mediaType`, when present, must be the OCI one. */
export const checkOciIndex: Check<OciImageIndex> = object({
  schemaVersion: required(literal(2)),
  mediaType: optional(literal(MediaType.OciIndex)),
  artifactType: optional(mediaType),
  manifests: required(descriptors),
  subject: optional(checkDescriptor),
  annotations: optional(stringMap),
});

/** The check behind `validateDockerManifestList`; `mediaType` is required and must be the Docker one. */
export const checkDockerManifestList: Check<DockerManifestList> = object({
  schemaVersion: required(literal(2)),
  mediaType: required(literal(MediaType.DockerManifestList)),
  manifests: required(descriptors),
});

/** Picks the OCI or Docker check by the `mediaType` field; anything else is named in the error. */
function byMediaType<O, D>(
  oci: Check<O>,
  docker: Check<D>,
  ociType: string,
  dockerType: string,
): Check<O | D> {
  return (value, path, what) => {
    if (!isPlainObject(value)) fail(what, path, `expected an object, got ${describeValue(value)}`);
    const mt = value.mediaType;
    if (mt === undefined || mt === ociType) return oci(value, path, what);
    if (mt === dockerType) return docker(value, path, what);
    return fail(what, `${path}.mediaType`, `expected ${ociType} or ${dockerType}, got ${describeValue(mt)}`);
  };
}

/** The check behind `validateImageManifest`: the OCI or Docker manifest check, picked by `mediaType`. */
export const checkImageManifest: Check<ImageManifest> = byMediaType(
  checkOciManifest,
  checkDockerManifest,
  MediaType.OciManifest,
  MediaType.DockerManifest,
);

/**
 * The check behind `validateImageIndex`: the OCI index or Docker manifest list check, picked by
 * `mediaType`.
 */
export const checkImageIndex: Check<ImageIndex> = byMediaType(
  checkOciIndex,
  checkDockerManifestList,
  MediaType.OciIndex,
  MediaType.DockerManifestList,
);

/** Validate an OCI image manifest; returns it typed or throws `ValidationError`. */
export function validateOciManifest(value: unknown): OciImageManifest {
  return validateWith(checkOciManifest, value, 'OCI image manifest');
}

/** Validate a Docker schema 2 image manifest; returns it typed or throws `ValidationError`. */
export function validateDockerManifest(value: unknown): DockerManifest {
  return validateWith(checkDockerManifest, value, 'Docker image manifest');
}

/**
 * Validate an OCI or Docker schema 2 manifest, told apart by `mediaType` (absent means OCI);
 * returns it typed or throws `ValidationError`.
 */
export function validateImageManifest(value: unknown): ImageManifest {
  return validateWith(checkImageManifest, value, 'image manifest');
}

/** Validate an OCI image index; returns it typed or throws `ValidationError`. */
export function validateOciIndex(value: unknown): OciImageIndex {
  return validateWith(checkOciIndex, value, 'OCI image index');
}

/** Validate a Docker manifest list; returns it typed or throws `ValidationError`. */
export function validateDockerManifestList(value: unknown): DockerManifestList {
  return validateWith(checkDockerManifestList, value, 'Docker manifest list');
}

/**
 * Validate an OCI index or Docker manifest list, told apart by `mediaType` (absent means OCI);
 * returns it typed or throws `ValidationError`.
 */
export function validateImageIndex(value: unknown): ImageIndex {
  return validateWith(checkImageIndex, value, 'image index');
}

/** True for a Docker schema 2 manifest, false for an OCI one. */
export function isDockerManifest(m: ImageManifest): m is DockerManifest {
  return m.mediaType === MediaType.DockerManifest;
}

/** True for a Docker manifest list, false for an OCI index. */
export function isDockerManifestList(i: ImageIndex): i is DockerManifestList {
  return i.mediaType === MediaType.DockerManifestList;
}

/** The media type a manifest is served with: its field, or the OCI type when the field is absent. */
export function manifestMediaType(m: ImageManifest): string {
  return m.mediaType ?? MediaType.OciManifest;
}

/** The media type an index is served with: its field, or the OCI index type when the field is absent. */
export function indexMediaType(i: ImageIndex): string {
  return i.mediaType ?? MediaType.OciIndex;
}

/** The config descriptor of a manifest of either family. */
export function configOf(manifest: ImageManifest): Descriptor {
  return manifest.config;
}

/** The layer descriptors of a manifest of either family, base layer first. */
export function layersOf(manifest: ImageManifest): readonly Descriptor[] {
  return manifest.layers;
}

function convertDescriptor(d: Descriptor, family: 'oci' | 'docker'): Descriptor {
  return { ...d, mediaType: convertMediaType(d.mediaType, family) };
}

/**
 * The OCI equivalent of a manifest: media types of the manifest, config and layers mapped
 * (Docker foreign layers become OCI non-distributable ones); other fields kept. A new object:
 * its serialization, and so its digest, differs from the original's.
 */
export function toOciManifest(manifest: ImageManifest): OciImageManifest {
  return {
    ...manifest,
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: convertDescriptor(manifest.config, 'oci'),
    layers: manifest.layers.map((l) => convertDescriptor(l, 'oci')),
  };
}

/**
 * The Docker schema 2 equivalent of a manifest. Only images convert: an artifact (an
 * `artifactType`, or a config that is not an image config) throws {@link UnsupportedMediaTypeError},
 * as does a layer type Docker has no name for (uncompressed or zstd non-distributable layers).
 * OCI-only fields Docker does not define (`subject`, `annotations`) are dropped.
 */
export function toDockerManifest(manifest: ImageManifest): DockerManifest {
  const {
    artifactType,
    subject: _subject,
    annotations: _annotations,
    ...rest
  } = manifest as OciImageManifest;
  if (artifactType !== undefined) {
    throw new UnsupportedMediaTypeError(
      artifactType,
      'artifact',
      'Docker schema 2 manifests carry images only',
    );
  }
  const config = convertDescriptor(manifest.config, 'docker');
  if (!isConfigMediaType(config.mediaType)) {
    throw new UnsupportedMediaTypeError(
      manifest.config.mediaType,
      'config',
      'only image configs convert to Docker schema 2; this manifest is an artifact',
    );
  }
  const layers = manifest.layers.map((l) => {
    const c = convertDescriptor(l, 'docker');
    if (!c.mediaType.startsWith('application/vnd.docker.')) {
      throw new UnsupportedMediaTypeError(
        l.mediaType,
        'layer',
        'Docker schema 2 has no equivalent layer type',
      );
    }
    return c;
  });
  return { ...rest, schemaVersion: 2, mediaType: MediaType.DockerManifest, config, layers };
}

/** The OCI equivalent of an index or manifest list (entries' media types mapped, other fields kept). */
export function toOciIndex(index: ImageIndex): OciImageIndex {
  return {
    ...index,
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: index.manifests.map((m) => convertDescriptor(m, 'oci')),
  };
}

/**
 * The Docker manifest list equivalent of an index. Entries that are neither image manifests nor
 * indexes (artifacts) throw {@link UnsupportedMediaTypeError}; `subject`, `artifactType` and
 * `annotations` are dropped.
 */
export function toDockerManifestList(index: ImageIndex): DockerManifestList {
  const { artifactType: _a, subject: _s, annotations: _n, ...rest } = index as OciImageIndex;
  const manifests = index.manifests.map((m) => {
    const c = convertDescriptor(m, 'docker');
    if (c.mediaType !== MediaType.DockerManifest && c.mediaType !== MediaType.DockerManifestList) {
      throw new UnsupportedMediaTypeError(
        m.mediaType,
        'index entry',
        'a Docker manifest list holds image manifests only',
      );
    }
    return c;
  });
  return { ...rest, schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests };
}
