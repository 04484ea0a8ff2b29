import { createHash } from 'node:crypto';
import type { Contents } from '@pd/tar';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  type SbomFormat,
  sbomArtifact,
  sbomFormatOf,
  sbomOf,
  serializeSbom,
  UnknownSbomFormatError,
} from '../src/index.js';
import {
  ALPINE_OS_RELEASE,
  APK_INSTALLED,
  condaMeta,
  DEBIAN_OS_RELEASE,
  DPKG_STATUS,
  METADATA_ATTRS,
  METADATA_REQUESTS,
  PKG_INFO_CHARDET,
} from './fixtures.js';
import { imageOf, tempCache } from './helpers.js';
import { cyclonedxProblems, spdxProblems } from './schemas.js';

const { cache, cleanup } = tempCache();
afterAll(cleanup);
afterEach(() => vi.unstubAllEnvs());

const LAYERS: Contents[] = [
  {
    '/usr/lib/os-release': DEBIAN_OS_RELEASE,
    '/etc/os-release': { type: 'symlink', linkname: '../usr/lib/os-release' },
    '/var/lib/dpkg/status': DPKG_STATUS,
    '/opt/conda/conda-meta/libffi-3.4.2-h7f98852_5.json': condaMeta('libffi', '3.4.2', 'h7f98852_5', 'MIT'),
    '/opt/conda/conda-meta/tzdata-2024a-h0c530f3_0.json': condaMeta(
      'tzdata',
      '2024a',
      'h0c530f3_0',
      'LicenseRef-Public-Domain',
    ),
    '/opt/conda/conda-meta/x-1-0.json': condaMeta('x', '1', '0', 'BSD 3-Clause'),
    '/opt/conda/lib/python3.12/site-packages/attrs-24.2.0.dist-info/METADATA': METADATA_ATTRS,
    '/opt/conda/lib/python3.12/site-packages/requests-2.32.3.dist-info/METADATA': METADATA_REQUESTS,
    '/usr/lib/python3/dist-packages/chardet-5.1.0.egg-info/PKG-INFO': PKG_INFO_CHARDET,
  },
  { '/lib/apk/db/installed': APK_INSTALLED, '/tmp/alpine-os-release': ALPINE_OS_RELEASE },
];
const CREATED = '2024-05-06T07:08:09Z';

describe('SPDX 2.3', () => {
  it('follows the spec: fields, ids, licenses, purls, relationships', async () => {
    const image = await imageOf(cache, LAYERS, CREATED);
    const doc = await sbomOf(image, {
      name: '127.0.0.1:5000/org/app:1',
      tool: { name: 'pd', version: '0.1.0' },
    });
    expect(spdxProblems(doc)).toEqual([]);
    const digest = await image.digest();
    expect(doc).toMatchObject({
      spdxVersion: 'SPDX-2.3',
      name: '127.0.0.1:5000/org/app:1',
      documentNamespace: `https://github.com/pd-containers/pd/spdx/${digest.slice('sha256:'.length)}`,
      creationInfo: { created: CREATED, creators: ['Tool: pd-0.1.0'] },
      documentDescribes: ['SPDXRef-Image'],
    });
    const packages = doc.packages as Array<Record<string, unknown>>;
    expect(packages[0]).toMatchObject({
      SPDXID: 'SPDXRef-Image',
      versionInfo: digest,
      primaryPackagePurpose: 'CONTAINER',
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: `pkg:oci/app@${encodeURIComponent(digest)}?repository_url=127.0.0.1%3A5000%2Forg%2Fapp&tag=1`,
        },
      ],
    });
    expect(packages[1]).toMatchObject({
      name: 'debian',
      versionInfo: '12',
      primaryPackagePurpose: 'OPERATING-SYSTEM',
    });
    const declared = Object.fromEntries(packages.map((p) => [p.name, p.licenseDeclared]));
    expect(declared).toMatchObject({
      'ca-certificates-bundle': 'MPL-2.0 AND MIT', // apk's L: is an SPDX expression
      libffi: 'MIT',
      attrs: 'MIT', // License-Expression
      requests: 'Apache-2.0',
      bash: 'NOASSERTION', // dpkg's status names no license
      x: 'LicenseRef-BSD-3-Clause', // free text
      tzdata: 'LicenseRef-LicenseRef-Public-Domain', // an undefined LicenseRef is text too
      chardet: 'LicenseRef-LGPL',
    });
    expect(doc.hasExtractedLicensingInfos).toEqual([
      { licenseId: 'LicenseRef-BSD-3-Clause', extractedText: 'BSD 3-Clause', name: 'BSD 3-Clause' },
      { licenseId: 'LicenseRef-LGPL', extractedText: 'LGPL', name: 'LGPL' },
      {
        licenseId: 'LicenseRef-LicenseRef-Public-Domain',
        extractedText: 'LicenseRef-Public-Domain',
        name: 'LicenseRef-Public-Domain',
      },
    ]);
    // Every package found is CONTAINed by the image.
    const contains = (doc.relationships as Array<Record<string, string>>).filter(
      (r) => r.relationshipType === 'CONTAINS',
    );
    expect(contains).toHaveLength(packages.length - 1);
  });

  it('the checker finds what breaks the rules (so a clean result means something)', async () => {
    const doc = await sbomOf(await imageOf(cache, LAYERS, CREATED));
    const packages = doc.packages as Array<Record<string, unknown>>;
    const broken = {
      ...doc,
      creationInfo: { created: '2024-05-06T07:08:09.123Z', creators: ['pd'] },
      packages: [
        { ...packages[0], licenseDeclared: 'MIT License', versionInfo: 2 },
        { ...packages[1], SPDXID: 'SPDXRef-Image', vendor: 'x' },
      ],
      relationships: [
        { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'HAS', relatedSpdxElement: 'SPDXRef-Nope' },
      ],
    };
    expect(spdxProblems(broken)).toEqual([
      'creationInfo.created not YYYY-MM-DDThh:mm:ssZ',
      'creationInfo.creators missing or malformed',
      'package SPDXRef-Image: versionInfo not a string',
      'package SPDXRef-Image licenseDeclared: "MIT License" is not an SPDX license expression',
      'package SPDXRef-Image: unknown field vendor',
      'package SPDXRef-Image: SPDXID defined twice',
      'bad relationshipType HAS',
      'relationship to undefined SPDXRef-Nope',
    ]);
  });
});

describe('CycloneDX 1.5', () => {
  it('validates against the official schema', async () => {
    const image = await imageOf(cache, LAYERS, CREATED);
    const doc = await sbomOf(image, { format: 'cyclonedx-json', name: 'org/app:1' });
    expect(cyclonedxProblems(doc)).toEqual([]);
    expect(doc).toMatchObject({
      bomFormat: 'CycloneDX',
      specVersion: '1.5',
      metadata: {
        timestamp: CREATED,
        tools: { components: [{ type: 'application', name: 'pd' }] },
        component: { type: 'container', name: 'org/app:1', version: await image.digest() },
      },
    });
    const components = doc.components as Array<Record<string, unknown>>;
    expect(components[0]).toMatchObject({ type: 'operating-system', name: 'debian', version: '12' });
    const musl = components.find((c) => c.name === 'musl')!;
    expect(musl).toMatchObject({
      licenses: [{ expression: 'MIT' }],
      purl: 'pkg:apk/debian/musl@1.2.5-r0?arch=x86_64&distro=debian-12',
      publisher: 'Timo Teräs <timo.teras@iki.fi>',
      externalReferences: [{ type: 'website', url: 'https://musl.libc.org/' }],
    });
    expect(components.find((c) => c.name === 'x')!.licenses).toEqual([{ license: { name: 'BSD 3-Clause' } }]);
    // bom-refs are unique (the schema does not check that).
    const refs = components.map((c) => c['bom-ref']);
    expect(new Set(refs).size).toBe(refs.length);
  });

  it('the schema rejects a broken document (so a clean result means something)', async () => {
    const doc = await sbomOf(await imageOf(cache, LAYERS, CREATED), { format: 'cyclonedx-json' });
    const components = doc.components as Array<Record<string, unknown>>;
    const broken = {
      ...doc,
      components: [{ ...components[1], type: 'package', licenses: [{ license: {} }] }],
    };
    expect(cyclonedxProblems(broken).join('\n')).toMatch(
      /\/components\/0\/type must be equal to one of the allowed values/,
    );
  });
});

describe('the same image gives the same bytes', () => {
  for (const format of ['spdx-json', 'cyclonedx-json'] as SbomFormat[]) {
    it(`${format}: twice the same; created from SOURCE_DATE_EPOCH, else the image's created time`, async () => {
      const image = await imageOf(cache, LAYERS, CREATED);
      const a = serializeSbom(await sbomOf(image, { format }));
      const b = serializeSbom(await sbomOf(await imageOf(cache, LAYERS, CREATED), { format }));
      expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
      expect(Buffer.from(a).toString()).toContain(`"${CREATED}"`);
      vi.stubEnv('SOURCE_DATE_EPOCH', '86400');
      const c = Buffer.from(serializeSbom(await sbomOf(image, { format }))).toString();
      expect(c).toContain('"1970-01-02T00:00:00Z"');
      expect(c).not.toContain(CREATED);
    });
  }

  it('another image gives another namespace and serial number', async () => {
    const one = await imageOf(cache, LAYERS, CREATED);
    const two = await imageOf(cache, [LAYERS[0]!], CREATED);
    const spdx = [await sbomOf(one), await sbomOf(two)].map((d) => d.documentNamespace);
    const cdx = [
      await sbomOf(one, { format: 'cyclonedx-json' }),
      await sbomOf(two, { format: 'cyclonedx-json' }),
    ];
    expect(spdx[0]).not.toBe(spdx[1]);
    expect(cdx[0]!.serialNumber).not.toBe(cdx[1]!.serialNumber);
  });
});

describe('as an artifact layer', () => {
  it('is the serialized document with its media type, digest and a file name', async () => {
    const image = await imageOf(cache, LAYERS, CREATED);
    for (const [format, mediaType, title] of [
      ['spdx-json', 'application/spdx+json', 'sbom.spdx.json'],
      ['cyclonedx-json', 'application/vnd.cyclonedx+json', 'sbom.cdx.json'],
    ] as const) {
      const doc = await sbomOf(image, { format });
      expect(sbomFormatOf(doc)).toBe(format);
      const art = sbomArtifact(doc);
      expect(art.artifactType).toBe(mediaType);
      expect(Buffer.from(art.data).equals(Buffer.from(serializeSbom(doc)))).toBe(true);
      expect(JSON.parse(Buffer.from(art.data).toString())).toEqual(doc);
      expect(art.descriptor).toEqual({
        mediaType,
        digest: `sha256:${createHash('sha256').update(art.data).digest('hex')}`,
        size: art.data.length,
        annotations: { 'org.opencontainers.image.title': title },
      });
    }
  });

  it('refuses an unknown format and a document that is not an SBOM', async () => {
    const image = await imageOf(cache, LAYERS, CREATED);
    await expect(sbomOf(image, { format: 'spdx-tag' as SbomFormat })).rejects.toBeInstanceOf(
      UnknownSbomFormatError,
    );
    expect(() => sbomArtifact({ hello: 'world' })).toThrow(/not an SBOM document/);
  });
});
