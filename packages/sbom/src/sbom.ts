import type { Image } from '@pd/image';
import { type Descriptor, type Digest, digestOf } from '@pd/oci-types';
import {
  cycloneDxDocument,
  type SbomDocument,
  type SbomFormat,
  type SbomSubject,
  spdxDocument,
} from './documents.js';
import { NotAnSbomError, UnknownSbomFormatError } from './errors.js';
import { type Inventory, inventoryOf } from './inventory.js';

/** Options of `sbomOf`. */
export interface SbomOptions {
  /** `spdx-json` (default) or `cyclonedx-json`. */
  format?: SbomFormat | undefined;
  /** What to call the image in the document, e.g. the reference it was read from. */
  name?: string | undefined;
  /**
   * The document's creation time. Default: `SOURCE_DATE_EPOCH` when set, else the image config's
   * `created`, else the epoch: the same image gives the same bytes.
   */
  created?: Date | undefined;
  /** The tool named as the document's creator (default `pd`, no version). */
  tool?: SbomSubject['tool'];
  signal?: AbortSignal | undefined;
}

/** `SOURCE_DATE_EPOCH`, the image's `created`, or the epoch, in that order. */
export async function defaultCreated(image: Image, env: NodeJS.ProcessEnv = process.env): Promise<Date> {
  const epoch = env.SOURCE_DATE_EPOCH?.trim();
  if (epoch && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000);
  const created = (await image.config()).created;
  const t = created ? Date.parse(created) : Number.NaN;
  return Number.isNaN(t) ? new Date(0) : new Date(t);
}

/** The document for an inventory already made (`inventoryOf`), in `format`. */
export function sbomDocument(
  inventory: Inventory,
  subject: SbomSubject,
  format: SbomFormat = 'spdx-json',
): SbomDocument {
  if (format === 'spdx-json') return spdxDocument(inventory, subject);
  if (format === 'cyclonedx-json') return cycloneDxDocument(inventory, subject);
  throw new UnknownSbomFormatError(String(format));
}

/**
 * The SBOM of `image` as an SPDX 2.3 (default) or CycloneDX 1.5 JSON document: every dpkg,
 * apk, conda and Python package its layers record, with purls and declared licenses, sorted.
 */
export async function sbomOf(image: Image, options: SbomOptions = {}): Promise<SbomDocument> {
  const format = options.format ?? 'spdx-json';
  if (format !== 'spdx-json' && format !== 'cyclonedx-json') throw new UnknownSbomFormatError(String(format));
  const [inventory, digest, created] = await Promise.all([
    inventoryOf(image, options.signal ? { signal: options.signal } : {}),
    image.digest(),
    options.created ?? defaultCreated(image),
  ]);
  return sbomDocument(inventory, { digest, name: options.name, created, tool: options.tool }, format);
}

/** The document's bytes as pd writes them: two-space JSON and a final newline. */
export function serializeSbom(document: SbomDocument): Uint8Array {
  return Buffer.from(`${JSON.stringify(document, null, 2)}\n`);
}

/** IANA media types of the two formats, also used as the artifact type of an attached SBOM. */
export const SBOM_MEDIA_TYPES: Readonly<Record<SbomFormat, string>> = {
  'spdx-json': 'application/spdx+json',
  'cyclonedx-json': 'application/vnd.cyclonedx+json',
};

/** Which format a document is, from its own fields. */
export function sbomFormatOf(document: SbomDocument): SbomFormat {
  if (typeof document.spdxVersion === 'string') return 'spdx-json';
  if (document.bomFormat === 'CycloneDX') return 'cyclonedx-json';
  throw new NotAnSbomError('it has neither spdxVersion nor bomFormat "CycloneDX"');
}

/** An SBOM ready to push as the one layer of an artifact manifest (a referrer of the image). */
export interface SbomArtifact {
  /** The manifest's `artifactType`: the document's media type. */
  artifactType: string;
  /** The layer's descriptor, with an `org.opencontainers.image.title` file name. */
  descriptor: Descriptor & { digest: Digest };
  /** The layer's bytes. */
  data: Uint8Array;
}

/**
 * The document as an artifact layer: its bytes, media type (`application/spdx+json` or
 * `application/vnd.cyclonedx+json`) and a descriptor titled `sbom.spdx.json` / `sbom.cdx.json`,
 * as ORAS names pulled files.
 */
export function sbomArtifact(document: SbomDocument): SbomArtifact {
  const format = sbomFormatOf(document);
  const data = serializeSbom(document);
  const mediaType = SBOM_MEDIA_TYPES[format];
  return {
    artifactType: mediaType,
    data,
    descriptor: {
      mediaType,
      digest: digestOf(data),
      size: data.length,
      annotations: {
        'org.opencontainers.image.title': format === 'spdx-json' ? 'sbom.spdx.json' : 'sbom.cdx.json',
      },
    },
  };
}
