import type { Image, ImageIndex } from '@pd/image';
import type { SbomFormat } from '@pd/sbom';
import type { OptionSpec } from '../command.js';
import type { Context } from '../context.js';
import { UsageError } from '../output/errors.js';
import type { OutputResult } from './image-io.js';
import { parseRef } from './shared.js';

/** `--sbom` and `--sbom-format` of the commands that build an image and push it. */
export const SBOM_OPTIONS = {
  sbom: {
    type: 'boolean',
    description: 'attach an SBOM of what was built to the pushed image, as a referrer (push only)',
  },
  'sbom-format': {
    type: 'string',
    value: 'FORMAT',
    choices: ['spdx-json', 'cyclonedx-json'],
    description: 'format of the SBOM (default spdx-json)',
  },
} as const satisfies Record<string, OptionSpec>;

/** --sbom goes with -t: the SBOM is a referrer of the pushed manifest. Checked before any work. */
export function checkSbom(values: {
  sbom?: boolean | undefined;
  tag?: string | undefined;
  output?: string | undefined;
}): void {
  if (values.sbom && (values.tag === undefined || values.output !== undefined)) {
    throw new UsageError(
      '--sbom attaches to a pushed image: give -t REF (and no -o)',
      'pd sbom IMAGE writes one to a file',
    );
  }
}

/**
 * An SBOM of each image pushed (each child of an index), attached to it as a referrer: what
 * `pd referrers` lists and `pd copy --referrers` carries along.
 */
export async function attachSboms(
  ctx: Context,
  built: Image | ImageIndex,
  pushed: OutputResult,
  format: SbomFormat = 'spdx-json',
): Promise<void> {
  const { attach } = await import('@pd/image');
  const { sbomArtifact, sbomOf } = await import('@pd/sbom');
  const repo = parseRef(pushed.reference!).repo().toString();
  const images: { image: Image; digest: string }[] = [];
  if (built.kind === 'image') images.push({ image: built, digest: pushed.digest });
  else {
    for (const child of await built.children()) {
      const opened = await child.open();
      if (opened.kind === 'image') images.push({ image: opened, digest: child.descriptor.digest });
    }
  }
  for (const { image, digest } of images) {
    const artifact = sbomArtifact(
      await sbomOf(image, { format, name: `${repo}@${digest}`, signal: ctx.signal }),
    );
    const title = artifact.descriptor.annotations?.['org.opencontainers.image.title'] ?? 'sbom.json';
    const attached = await attach(`${repo}@${digest}`, {
      artifactType: artifact.artifactType,
      files: [{ data: artifact.data, title, mediaType: artifact.descriptor.mediaType }],
      client: await ctx.registry(),
      signal: ctx.signal,
    });
    ctx.info(`attached an SBOM (${format}) ${attached.descriptor.digest} to ${digest}`);
  }
}
