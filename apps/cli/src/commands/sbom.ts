import { Readable } from 'node:stream';
import type { SbomFormat } from '@pd/sbom';
import { defineCommand } from '../command.js';
import { VERSION } from '../version.js';
import { openInput, PLATFORM_OPTION, preconnectLayers } from './image-io.js';
import { writeFileAtomic } from './shared.js';

const FORMATS = ['spdx-json', 'cyclonedx-json'] as const;

export const sbomCommand = defineCommand({
  name: 'sbom',
  usage: '(REF | PATH) [--format spdx-json|cyclonedx-json] [-o FILE]',
  description:
    'Reads the package managers’ records from the layers (whiteouts applied): dpkg (/var/lib/dpkg/status\n' +
    'and status.d/), apk (/lib/apk/db/installed), conda environments (conda-meta/*.json under any prefix)\n' +
    'and Python distributions (*.dist-info/METADATA, *.egg-info). Each package gets a purl and the license\n' +
    'its metadata declares. The output is sorted and dated by SOURCE_DATE_EPOCH or the image’s created\n' +
    'time, so the same image gives the same bytes. IMAGE may be a reference or a file, as for pd inspect.',
  args: [{ name: 'IMAGE' }],
  options: {
    format: {
      type: 'string',
      value: 'FORMAT',
      choices: FORMATS,
      description: 'spdx-json is SPDX 2.3 (the default), cyclonedx-json CycloneDX 1.5',
    },
    output: {
      type: 'string',
      short: 'o',
      value: 'FILE',
      complete: 'file',
      description: 'write the document to FILE instead of stdout',
    },
    platform: PLATFORM_OPTION,
  },
  json:
    'without -o: the document itself; with -o:\n' +
    '{ "path": "sbom.json", "format": "spdx-json", "image": "sha256:…", "packages": 123, "digest": "sha256:…" }',
  examples: [
    { note: 'SPDX of an image in a registry', command: 'pd sbom ghcr.io/org/app:1 > app.spdx.json' },
    {
      note: 'CycloneDX of a saved image, to a file',
      command: 'pd sbom app.tar --format cyclonedx-json -o app.cdx.json',
    },
    {
      note: 'the purls of the Debian packages',
      command:
        'pd sbom debian:12 | jq -r \'.packages[].externalRefs[]?.referenceLocator | select(startswith("pkg:deb"))\'',
    },
  ],
  async run(ctx, { args, values }) {
    const { defaultCreated, inventoryOf, sbomArtifact, sbomDocument } = await import('@pd/sbom');
    // --format is one of FORMATS: the parser checked it against `choices`.
    const format = (values.format ?? 'spdx-json') as SbomFormat;
    // Every layer is read: from a registry, they come down on connections opened meanwhile.
    await preconnectLayers(ctx, args.IMAGE!);
    const image = await openInput(ctx, args.IMAGE!, values.platform);
    const [inventory, digest, created] = await Promise.all([
      inventoryOf(image, { signal: ctx.signal }),
      image.digest(),
      defaultCreated(image, ctx.env),
    ]);
    for (const w of inventory.warnings) ctx.warn(w);
    const document = sbomDocument(
      inventory,
      { digest, name: args.IMAGE!, created, tool: { name: 'pd', version: VERSION } },
      format,
    );
    const { data, descriptor } = sbomArtifact(document);
    if (values.output === undefined) {
      ctx.io.stdout.write(data);
      return 0;
    }
    await writeFileAtomic(values.output, Readable.from([data]), ctx.signal);
    if (ctx.flags.json) {
      ctx.printJson({
        path: values.output,
        format,
        image: digest,
        packages: inventory.packages.length,
        digest: descriptor.digest,
      });
    } else {
      ctx.print(
        `wrote ${format} SBOM of ${digest} (${inventory.packages.length} packages) to ${values.output}`,
      );
    }
    return 0;
  },
});
