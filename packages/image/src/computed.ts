import {
  convertMediaType,
  type Descriptor,
  type Digest,
  digestOf,
  type ImageConfig,
  type ImageManifest,
  layerCompression,
  MediaType,
  parseImageConfig,
  UnsupportedMediaTypeError,
} from '@pd/oci-types';
import { InconsistentImageError } from './errors.js';
import type { Image, Layer } from './model.js';
import { hasNullFields, withoutNullFields } from './mutate/null-fields.js';

/** A media type family: OCI, or Docker schema 2. */
export type Family = 'oci' | 'docker';

/** What an image is made of, as mutations see it. */
export interface ImageParts {
  /** Base first. */
  layers: Layer[];
  config: ImageConfig;
  /** Media type family of the manifest, config and layer descriptors. */
  family: Family;
  /**
   * The source's config bytes, kept as long as `config` is the unchanged parse of them, so that
   * an image whose config was not edited keeps its config digest.
   */
  rawConfig?: Uint8Array | undefined;
  /** Manifest annotations (OCI only). */
  annotations?: Record<string, string> | undefined;
}

/** The family of a manifest media type: `docker` for a Docker schema 2 manifest, else `oci`. */
export function familyOf(manifestMediaType: string): Family {
  return manifestMediaType === MediaType.DockerManifest ? 'docker' : 'oci';
}

const encoder = new TextEncoder();

/** Config JSON as written by pd: key order as built (stable for the same inputs), no spaces. */
export function serializeConfig(config: ImageConfig): Uint8Array {
  return encoder.encode(JSON.stringify(config));
}

/**
 * The family an image with these layer media types can be written in: Docker schema 2 has no zstd
 * layer type (skopeo, podman and CRI-O refuse `…rootfs.diff.tar.zstd`), so a Docker image that
 * gets a zstd layer becomes an OCI image, as docker itself and buildkit write them.
 */
export function writableFamily(family: Family, layerMediaTypes: readonly string[]): Family {
  if (family === 'docker' && layerMediaTypes.some((mt) => layerCompression(mt) === 'zstd')) return 'oci';
  return family;
}

/**
 * An image assembled in memory from layers and a config: the product of a mutation or a
 * builder. Its manifest is serialized deterministically (fixed key order, layer descriptors from
 * the layers' own metadata), so the same parts always give the same digest. Layer media types
 * are listed in the image's family (OCI when a Docker image holds a zstd layer, see
 * {@link writableFamily}); an OCI config never carries Docker's `null` members. Nothing is
 * fetched or built here: layers are the objects given, so a sink can still skip or mount the
 * ones that sit in a registry.
 */
export class ComputedImage implements Image {
  readonly kind = 'image' as const;
  readonly location = undefined;
  private readonly parts: ImageParts;
  private resolved: Promise<{ family: Family; configBytes: Uint8Array }> | undefined;
  private manifestPromise:
    | Promise<{ bytes: Uint8Array; manifest: ImageManifest; digest: Digest }>
    | undefined;

  constructor(parts: ImageParts) {
    if (parts.config.rootfs.diff_ids.length !== parts.layers.length) {
      throw new InconsistentImageError(
        `the image has ${parts.layers.length} layer(s) but its config lists ${parts.config.rootfs.diff_ids.length} diff_ids`,
      );
    }
    this.parts = { ...parts, layers: [...parts.layers] };
  }

  /** The parts this image was made from (copies of the lists; the config is shared, do not edit it). */
  get imageParts(): ImageParts {
    return { ...this.parts, layers: [...this.parts.layers] };
  }

  /**
   * The parts as this image writes them: the family it resolved to and the config bytes it
   * serves (an OCI config without Docker's nulls), so that a further mutation starts from what
   * the image is, not from what it was made of.
   */
  async writtenParts(): Promise<ImageParts> {
    const { family, configBytes } = await this.resolve();
    const config = configBytes === this.parts.rawConfig ? this.parts.config : parseImageConfig(configBytes);
    return { ...this.parts, layers: [...this.parts.layers], family, config, rawConfig: configBytes };
  }

  async mediaType(): Promise<string> {
    return (await this.resolve()).family === 'docker' ? MediaType.DockerManifest : MediaType.OciManifest;
  }

  /** The family written and the config bytes: kept as given unless an OCI config would hold nulls. */
  private resolve(): Promise<{ family: Family; configBytes: Uint8Array }> {
    this.resolved ??= (async () => {
      const { layers, config, rawConfig } = this.parts;
      const family = writableFamily(this.parts.family, await Promise.all(layers.map((l) => l.mediaType())));
      const configBytes =
        family === 'oci' && hasNullFields(config)
          ? serializeConfig(withoutNullFields(config))
          : (rawConfig ?? serializeConfig(config));
      return { family, configBytes };
    })();
    return this.resolved;
  }

  async rawConfig(): Promise<Uint8Array> {
    return (await this.resolve()).configBytes;
  }

  async config(): Promise<ImageConfig> {
    // A fresh object each time: callers may edit what they get.
    return parseImageConfig(await this.rawConfig());
  }

  async configDigest(): Promise<Digest> {
    return digestOf(await this.rawConfig());
  }

  async layers(): Promise<Layer[]> {
    return [...this.parts.layers];
  }

  private build(): Promise<{ bytes: Uint8Array; manifest: ImageManifest; digest: Digest }> {
    this.manifestPromise ??= this.buildManifest();
    return this.manifestPromise;
  }

  private async buildManifest(): Promise<{ bytes: Uint8Array; manifest: ImageManifest; digest: Digest }> {
    const { layers, config, annotations } = this.parts;
    const { family, configBytes } = await this.resolve();
    const diffIds = config.rootfs.diff_ids;
    const descriptors = await Promise.all(
      layers.map(async (layer, i): Promise<Descriptor> => {
        const [mediaType, digest, size, diffId, ann] = await Promise.all([
          layer.mediaType(),
          layer.digest(),
          layer.size(),
          layer.diffId(),
          layer.annotations?.(),
        ]);
        if (diffId !== diffIds[i]) {
          throw new InconsistentImageError(
            `layer ${i} has diffID ${diffId} but the config lists ${diffIds[i]}`,
          );
        }
        const converted = convertMediaType(mediaType, family);
        if (family === 'docker' && !converted.startsWith('application/vnd.docker.')) {
          throw new UnsupportedMediaTypeError(
            mediaType,
            'layer',
            'Docker schema 2 has no name for it; keep the image OCI',
          );
        }
        const d: Descriptor = { mediaType: converted, digest, size };
        if (ann && family === 'oci' && Object.keys(ann).length > 0) d.annotations = ann;
        return d;
      }),
    );
    const configDescriptor: Descriptor = {
      mediaType: family === 'docker' ? MediaType.DockerConfig : MediaType.OciConfig,
      digest: digestOf(configBytes),
      size: configBytes.byteLength,
    };
    const manifest: ImageManifest =
      family === 'docker'
        ? {
            schemaVersion: 2,
            mediaType: MediaType.DockerManifest,
            config: configDescriptor,
            layers: descriptors,
          }
        : {
            schemaVersion: 2,
            mediaType: MediaType.OciManifest,
            config: configDescriptor,
            layers: descriptors,
            ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
          };
    const bytes = encoder.encode(JSON.stringify(manifest));
    return { bytes, manifest, digest: digestOf(bytes) };
  }

  async rawManifest(): Promise<Uint8Array> {
    return (await this.build()).bytes;
  }
  async manifest(): Promise<ImageManifest> {
    return structuredClone((await this.build()).manifest);
  }
  async digest(): Promise<Digest> {
    return (await this.build()).digest;
  }
  async size(): Promise<number> {
    return (await this.build()).bytes.byteLength;
  }
}

/** Read what an image is made of (manifest, config and the layer objects; no layer bytes). */
export async function loadParts(image: Image): Promise<ImageParts> {
  if (image instanceof ComputedImage) return image.writtenParts();
  const [mediaType, rawConfig, layers, manifest] = await Promise.all([
    image.mediaType(),
    image.rawConfig(),
    image.layers(),
    image.manifest(),
  ]);
  const annotations = 'annotations' in manifest ? manifest.annotations : undefined;
  return {
    layers,
    config: parseImageConfig(rawConfig),
    family: familyOf(mediaType),
    rawConfig,
    annotations,
  };
}

/** A deep copy of the config to edit; the raw bytes no longer describe it. */
export function editableParts(parts: ImageParts): ImageParts {
  return { ...parts, layers: [...parts.layers], config: structuredClone(parts.config), rawConfig: undefined };
}
