/**
 * Validators for the documents pd writes.
 *
 * CycloneDX: the official JSON schemas as `@cyclonedx/cyclonedx-library` ships them
 * (`res/schema/bom-1.5.SNAPSHOT.schema.json` and the two it refers to), compiled with Ajv and the
 * formats they use (`date-time`, `iri-reference`, `idn-email`). The files refer to each other by
 * file name; each is registered under the URI such a reference resolves to.
 *
 * SPDX: no npm package (nor Debian package) ships the SPDX 2.3 JSON schema, so `spdxProblems`
 * checks what the SPDX 2.3 specification requires of a JSON document: the document fields of
 * clause 6, the package fields of clause 7 with the names the JSON serialization gives them (an
 * unknown name is a problem), SPDX identifiers (`SPDXRef-[A-Za-z0-9.-]+`, unique), license
 * expressions (parsed by `spdx-expression-parse`, every `LicenseRef-` defined in
 * `hasExtractedLicensingInfos`), external references (category/type vocabulary of annex F, purls
 * parsed by `packageurl-js`) and relationships (types of clause 11, both ends defined).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import ajvModule from 'ajv';
import ajvFormats from 'ajv-formats';
import { PackageURL } from 'packageurl-js';
import parseExpression from 'spdx-expression-parse';

const require = createRequire(import.meta.url);
export const CYCLONEDX_SCHEMA_DIR = join(
  dirname(require.resolve('@cyclonedx/cyclonedx-library/package.json')),
  'res',
  'schema',
);

// CommonJS modules with `exports.default`: Node's ESM loader hands over module.exports (whose
// .default is the same function); TypeScript under NodeNext sees only the namespace.
const Ajv = ajvModule.default;
const addFormats = ajvFormats.default;
// `idn-email` and `iri-reference`, which the CycloneDX schema uses; the module has no types.
const addDraft2019Formats = require('ajv-formats-draft2019') as (ajv: InstanceType<typeof Ajv>) => unknown;

let cyclonedx: ValidateFunction | undefined;

/** Problems of `doc` against the CycloneDX 1.5 JSON schema, one line each; empty when valid. */
export function cyclonedxProblems(doc: unknown): string[] {
  if (!cyclonedx) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    addDraft2019Formats(ajv);
    const base = 'http://cyclonedx.org/schema/';
    for (const file of [
      'spdx.SNAPSHOT.schema.json',
      'jsf-0.82.SNAPSHOT.schema.json',
      'bom-1.5.SNAPSHOT.schema.json',
    ]) {
      const schema = JSON.parse(readFileSync(join(CYCLONEDX_SCHEMA_DIR, file), 'utf8')) as Record<
        string,
        unknown
      >;
      ajv.addSchema({ ...schema, $id: `${base}${file}` });
    }
    cyclonedx = ajv.getSchema(`${base}bom-1.5.SNAPSHOT.schema.json`);
    if (!cyclonedx) throw new Error('bom-1.5 schema did not compile');
  }
  if (cyclonedx(doc)) return [];
  return (cyclonedx.errors ?? []).map(
    (e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`,
  );
}

const DOCUMENT_FIELDS = new Set([
  '$schema',
  'SPDXID',
  'annotations',
  'comment',
  'creationInfo',
  'dataLicense',
  'documentDescribes',
  'documentNamespace',
  'externalDocumentRefs',
  'files',
  'hasExtractedLicensingInfos',
  'name',
  'packages',
  'relationships',
  'snippets',
  'spdxVersion',
]);
const PACKAGE_FIELDS = new Set([
  'SPDXID',
  'annotations',
  'attributionTexts',
  'builtDate',
  'checksums',
  'comment',
  'copyrightText',
  'description',
  'downloadLocation',
  'externalRefs',
  'filesAnalyzed',
  'hasFiles',
  'homepage',
  'licenseComments',
  'licenseConcluded',
  'licenseDeclared',
  'licenseInfoFromFiles',
  'name',
  'originator',
  'packageFileName',
  'packageVerificationCode',
  'primaryPackagePurpose',
  'releaseDate',
  'sourceInfo',
  'summary',
  'supplier',
  'validUntilDate',
  'versionInfo',
]);
const PURPOSES = new Set([
  'APPLICATION',
  'FRAMEWORK',
  'LIBRARY',
  'CONTAINER',
  'OPERATING-SYSTEM',
  'DEVICE',
  'FIRMWARE',
  'SOURCE',
  'ARCHIVE',
  'FILE',
  'INSTALL',
  'OTHER',
]);
const REF_CATEGORIES = new Set([
  'SECURITY',
  'PACKAGE-MANAGER',
  'PACKAGE_MANAGER',
  'PERSISTENT-ID',
  'PERSISTENT_ID',
  'OTHER',
]);
const RELATIONSHIPS = new Set([
  'DESCRIBES',
  'DESCRIBED_BY',
  'CONTAINS',
  'CONTAINED_BY',
  'DEPENDS_ON',
  'DEPENDENCY_OF',
  'OTHER',
]);
const SPDX_ID = /^SPDXRef-[A-Za-z0-9.-]+$/;
const CREATED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** What in `doc` breaks the SPDX 2.3 rules listed at the top of this file; empty when none. */
export function spdxProblems(doc: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  for (const k of Object.keys(doc)) need(DOCUMENT_FIELDS.has(k), `unknown document field ${k}`);
  need(doc.spdxVersion === 'SPDX-2.3', 'spdxVersion is not SPDX-2.3');
  need(doc.dataLicense === 'CC0-1.0', 'dataLicense is not CC0-1.0');
  need(doc.SPDXID === 'SPDXRef-DOCUMENT', 'SPDXID is not SPDXRef-DOCUMENT');
  need(typeof doc.name === 'string' && doc.name !== '', 'no name');
  const ns = doc.documentNamespace;
  need(
    typeof ns === 'string' && /^[a-z][a-z0-9+.-]*:\/\/\S+$/.test(ns) && !ns.includes('#'),
    'bad documentNamespace',
  );
  const info = doc.creationInfo as { created?: unknown; creators?: unknown } | undefined;
  need(
    typeof info?.created === 'string' && CREATED.test(info.created),
    'creationInfo.created not YYYY-MM-DDThh:mm:ssZ',
  );
  need(
    Array.isArray(info?.creators) &&
      info.creators.length > 0 &&
      info.creators.every((c) => typeof c === 'string' && /^(Person|Organization|Tool): \S/.test(c)),
    'creationInfo.creators missing or malformed',
  );
  const defined = new Set<string>(['SPDXRef-DOCUMENT']);
  const refs = new Set<string>();
  for (const info of (doc.hasExtractedLicensingInfos ?? []) as Array<Record<string, unknown>>) {
    need(
      typeof info.licenseId === 'string' && /^LicenseRef-[A-Za-z0-9.-]+$/.test(info.licenseId),
      `bad licenseId ${info.licenseId}`,
    );
    need(
      typeof info.extractedText === 'string' && info.extractedText !== '',
      `no extractedText for ${info.licenseId}`,
    );
    need(!refs.has(info.licenseId as string), `licenseId ${info.licenseId} defined twice`);
    refs.add(info.licenseId as string);
  }
  const license = (v: unknown, where: string) => {
    if (v === 'NONE' || v === 'NOASSERTION') return;
    try {
      const ids: string[] = [];
      const walk = (n: parseExpression.Info): void => {
        if ('license' in n) ids.push(n.license);
        else {
          walk(n.left);
          walk(n.right);
        }
      };
      walk(parseExpression(String(v)));
      for (const id of ids)
        if (id.startsWith('LicenseRef-')) need(refs.has(id), `${where}: ${id} not defined`);
    } catch {
      problems.push(`${where}: "${v}" is not an SPDX license expression`);
    }
  };
  for (const p of (doc.packages ?? []) as Array<Record<string, unknown>>) {
    const where = `package ${p.SPDXID}`;
    for (const k of Object.keys(p)) need(PACKAGE_FIELDS.has(k), `${where}: unknown field ${k}`);
    need(typeof p.name === 'string' && p.name !== '', `${where}: no name`);
    need(typeof p.SPDXID === 'string' && SPDX_ID.test(p.SPDXID), `${where}: bad SPDXID`);
    need(!defined.has(p.SPDXID as string), `${where}: SPDXID defined twice`);
    defined.add(p.SPDXID as string);
    need(
      p.downloadLocation === 'NONE' ||
        p.downloadLocation === 'NOASSERTION' ||
        typeof p.downloadLocation === 'string',
      `${where}: no downloadLocation`,
    );
    if (p.filesAnalyzed === false)
      need(
        !('packageVerificationCode' in p) && !('hasFiles' in p),
        `${where}: files of an unanalyzed package`,
      );
    if (p.versionInfo !== undefined)
      need(typeof p.versionInfo === 'string', `${where}: versionInfo not a string`);
    if (p.homepage !== undefined)
      need(typeof p.homepage === 'string' && /^https?:\/\/\S+$/.test(p.homepage), `${where}: bad homepage`);
    if (p.primaryPackagePurpose !== undefined)
      need(PURPOSES.has(p.primaryPackagePurpose as string), `${where}: bad purpose`);
    license(p.licenseConcluded, `${where} licenseConcluded`);
    license(p.licenseDeclared, `${where} licenseDeclared`);
    need(typeof p.copyrightText === 'string', `${where}: no copyrightText`);
    for (const r of (p.externalRefs ?? []) as Array<Record<string, unknown>>) {
      need(REF_CATEGORIES.has(r.referenceCategory as string), `${where}: bad referenceCategory`);
      if (r.referenceType === 'purl') {
        try {
          PackageURL.fromString(String(r.referenceLocator));
        } catch (e) {
          problems.push(`${where}: bad purl ${r.referenceLocator}: ${(e as Error).message}`);
        }
      }
    }
  }
  for (const id of (doc.documentDescribes ?? []) as string[])
    need(defined.has(id), `documentDescribes ${id} undefined`);
  for (const r of (doc.relationships ?? []) as Array<Record<string, string>>) {
    need(RELATIONSHIPS.has(r.relationshipType!), `bad relationshipType ${r.relationshipType}`);
    need(defined.has(r.spdxElementId!), `relationship from undefined ${r.spdxElementId}`);
    need(defined.has(r.relatedSpdxElement!), `relationship to undefined ${r.relatedSpdxElement}`);
  }
  return problems;
}
