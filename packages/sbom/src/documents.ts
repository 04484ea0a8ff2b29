import { createHash } from 'node:crypto';
import { digestHex, parseReference } from '@pd/oci-types';
import type { Inventory } from './inventory.js';
import { spdxExpression } from './license.js';
import type { PackageInfo } from './model.js';
import { purl } from './purl.js';

/** The SBOM formats pd writes. */
export type SbomFormat = 'spdx-json' | 'cyclonedx-json';

/** Every format, for option parsing and help. */
export const SBOM_FORMATS: readonly SbomFormat[] = ['spdx-json', 'cyclonedx-json'];

/** The image an SBOM describes. */
export interface SbomSubject {
  /** The manifest digest. */
  digest: string;
  /** What to call the image: a reference (`registry/repo:tag`) gives an OCI purl too. */
  name?: string | undefined;
  /** When the document was made (seconds are kept, fractions dropped). */
  created: Date;
  /** The tool that wrote it, e.g. `{ name: 'pd', version: '0.1.0' }`. */
  tool?: { name: string; version?: string | undefined } | undefined;
}

/** An SPDX 2.3 or CycloneDX 1.5 document as plain JSON. */
export type SbomDocument = Record<string, unknown>;

const NOASSERTION = 'NOASSERTION';

function hash(text: string, length = 16): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** `2024-01-02T03:04:05Z`: SPDX wants no fractional seconds. */
function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

function idSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9.-]+/g, '-');
}

/** A stable id for a package, the same in both formats: ecosystem, name and a hash of what makes it unique. */
function packageId(p: PackageInfo): string {
  return `${p.ecosystem}-${idSafe(p.name)}-${hash(`${p.purl}\0${p.location}`)}`;
}

function displayName(subject: SbomSubject): string {
  return subject.name ?? subject.digest;
}

/** `pkg:oci/app@sha256%3A…?repository_url=registry/org/app&tag=1`, when the name is a reference. */
function ociPurl(subject: SbomSubject): string | undefined {
  if (!subject.name) return undefined;
  try {
    const ref = parseReference(subject.name);
    const last = ref.repository.slice(ref.repository.lastIndexOf('/') + 1);
    return purl('oci', undefined, last, subject.digest, {
      repository_url: `${ref.registry}/${ref.repository}`,
      tag: ref.tag,
    });
  } catch {
    return undefined;
  }
}

function httpUrl(s: string | undefined): string | undefined {
  if (!s || !/^https?:\/\/[^\s"<>\\^`{|}]+$/.test(s)) return undefined;
  try {
    new URL(s);
    return s;
  } catch {
    return undefined;
  }
}

function toolName(subject: SbomSubject): { name: string; version?: string | undefined } {
  return subject.tool ?? { name: 'pd' };
}

/**
 * Licenses that are not SPDX expressions become `LicenseRef-`s with their text attached
 * (`hasExtractedLicensingInfos`); ids come from the text so the same text gets the same id.
 */
class LicenseRefs {
  private readonly byText = new Map<string, string>();
  private readonly taken = new Set<string>();

  declared(text: string | undefined): string {
    if (!text) return NOASSERTION;
    const expr = spdxExpression(text);
    if (expr) return expr;
    let id = this.byText.get(text);
    if (!id) {
      id = `LicenseRef-${
        idSafe(text)
          .slice(0, 48)
          .replace(/^-+|-+$/g, '') || 'unnamed'
      }`;
      if (this.taken.has(id)) id = `${id}-${hash(text, 8)}`;
      this.taken.add(id);
      this.byText.set(text, id);
    }
    return id;
  }

  infos(): Array<Record<string, string>> {
    return [...this.byText]
      .map(([text, id]) => ({ licenseId: id, extractedText: text, name: text }))
      .sort((a, b) => (a.licenseId < b.licenseId ? -1 : a.licenseId > b.licenseId ? 1 : 0));
  }
}

/** The document as SPDX 2.3 JSON: the image as the described package, CONTAINS each package found. */
export function spdxDocument(inventory: Inventory, subject: SbomSubject): SbomDocument {
  const licenses = new LicenseRefs();
  const tool = toolName(subject);
  const imageId = 'SPDXRef-Image';
  const image: Record<string, unknown> = {
    name: displayName(subject),
    SPDXID: imageId,
    versionInfo: subject.digest,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    primaryPackagePurpose: 'CONTAINER',
  };
  const oci = ociPurl(subject);
  if (oci) image.externalRefs = [purlRef(oci)];
  const packages: Record<string, unknown>[] = [image];
  const contained: string[] = [];
  if (inventory.os) {
    const id = `SPDXRef-OperatingSystem-${idSafe(inventory.os.id)}`;
    packages.push({
      name: inventory.os.id,
      SPDXID: id,
      ...(inventory.os.versionId ? { versionInfo: inventory.os.versionId } : {}),
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      licenseConcluded: NOASSERTION,
      licenseDeclared: NOASSERTION,
      copyrightText: NOASSERTION,
      ...(inventory.os.prettyName ? { description: inventory.os.prettyName } : {}),
      primaryPackagePurpose: 'OPERATING-SYSTEM',
    });
    contained.push(id);
  }
  for (const p of inventory.packages) {
    const id = `SPDXRef-Package-${packageId(p)}`;
    const homepage = httpUrl(p.homepage);
    packages.push({
      name: p.name,
      SPDXID: id,
      versionInfo: p.version,
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      licenseConcluded: NOASSERTION,
      licenseDeclared: licenses.declared(p.license),
      copyrightText: NOASSERTION,
      ...(homepage ? { homepage } : {}),
      ...(p.summary ? { summary: p.summary } : {}),
      sourceInfo: `${p.ecosystem} metadata at ${p.location}`,
      externalRefs: [purlRef(p.purl)],
    });
    contained.push(id);
  }
  const relationships = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageId },
    ...contained.map((id) => ({
      spdxElementId: imageId,
      relationshipType: 'CONTAINS',
      relatedSpdxElement: id,
    })),
  ];
  const doc: SbomDocument = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: displayName(subject),
    documentNamespace: `https://github.com/pd-containers/pd/spdx/${digestHex(subject.digest)}`,
    creationInfo: {
      created: isoSeconds(subject.created),
      creators: [`Tool: ${tool.name}${tool.version ? `-${tool.version}` : ''}`],
    },
    documentDescribes: [imageId],
    packages,
    relationships,
  };
  const infos = licenses.infos();
  if (infos.length > 0) doc.hasExtractedLicensingInfos = infos;
  return doc;
}

function purlRef(locator: string): Record<string, string> {
  return { referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: locator };
}

/** A UUID (version 5 layout) made from `seed`: the same image gives the same serial number. */
function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The document as CycloneDX 1.5 JSON: the image as `metadata.component`, each package a component. */
export function cycloneDxDocument(inventory: Inventory, subject: SbomSubject): SbomDocument {
  const tool = toolName(subject);
  const oci = ociPurl(subject);
  const components: Record<string, unknown>[] = [];
  if (inventory.os) {
    components.push({
      type: 'operating-system',
      'bom-ref': `os-${idSafe(inventory.os.id)}`,
      name: inventory.os.id,
      ...(inventory.os.versionId ? { version: inventory.os.versionId } : {}),
      ...(inventory.os.prettyName ? { description: inventory.os.prettyName } : {}),
    });
  }
  for (const p of inventory.packages) {
    const expr = spdxExpression(p.license);
    const homepage = httpUrl(p.homepage);
    components.push({
      type: 'library',
      'bom-ref': packageId(p),
      ...(p.supplier ? { publisher: p.supplier } : {}),
      name: p.name,
      version: p.version,
      ...(p.summary ? { description: p.summary } : {}),
      ...(p.license ? { licenses: [expr ? { expression: expr } : { license: { name: p.license } }] } : {}),
      purl: p.purl,
      ...(homepage ? { externalReferences: [{ type: 'website', url: homepage }] } : {}),
      properties: [
        { name: 'pd:package:ecosystem', value: p.ecosystem },
        { name: 'pd:package:location', value: p.location },
        ...(p.arch ? [{ name: 'pd:package:arch', value: p.arch }] : []),
      ],
    });
  }
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.5.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${uuidFrom(`pd-sbom\0${subject.digest}`)}`,
    version: 1,
    metadata: {
      timestamp: isoSeconds(subject.created),
      tools: {
        components: [
          { type: 'application', name: tool.name, ...(tool.version ? { version: tool.version } : {}) },
        ],
      },
      component: {
        type: 'container',
        'bom-ref': 'image',
        name: displayName(subject),
        version: subject.digest,
        ...(oci ? { purl: oci } : {}),
      },
    },
    components,
  };
}
