import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
import {
  checkOutput,
  emit,
  FORMATS,
  MANY_PLATFORMS_OPTIONS,
  openRemote,
  PRESERVE_DIGESTS_OPTION,
  platformChoice,
  registryRef,
  report,
  WRITE_JSON,
} from './image-io.js';
import { reportWithReferrers, withReferrers } from './referrers-copy.js';

export const pull = defineCommand({
  name: 'pull',
  usage: 'REF -o PATH [--format combined|docker|oci] [--platform OS/ARCH] [--preserve-digests]',
  description:
    'PATH ending in .tar gets an archive: by default one that both `docker load` and OCI tools (skopeo,\n' +
    'umoci) read; --format docker writes the classic `docker save` layout, --format oci an OCI archive.\n' +
    'Any other PATH is an OCI image layout directory (created, or added to). Layers are downloaded once\n' +
    'into the cache ($PD_CACHE_DIR) and verified against their digests. REF may be written docker://REF,\n' +
    'and PATH as skopeo does: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:TAG].\n' +
    'A Docker-format image is written into an OCI layout or archive as OCI (new manifest digests; pd\n' +
    "notes the source's); --preserve-digests stores its manifests as they are, so pd push gives the\n" +
    'registry back the same digests.',
  args: [{ name: 'REF' }],
  options: {
    output: {
      type: 'string',
      short: 'o',
      value: 'PATH',
      complete: 'file',
      description: 'where to write the image',
    },
    format: { type: 'string', value: 'FORMAT', choices: FORMATS, description: 'archive format of NAME.tar' },
    ...MANY_PLATFORMS_OPTIONS,
    'all-platforms': {
      type: 'boolean',
      description: 'keep every platform of an index (OCI layout or --format oci): --platform all',
    },
    'preserve-digests': PRESERVE_DIGESTS_OPTION,
    referrers: {
      type: 'boolean',
      description:
        'also copy what refers to the image (SBOMs, signatures: pd referrers), recursively, into the OCI layout',
    },
  },
  json: WRITE_JSON,
  examples: [
    {
      note: 'an archive for docker load',
      command: 'pd pull busybox:1.36 -o busybox.tar && docker load -i busybox.tar',
    },
    {
      note: 'an OCI layout of the arm64 image',
      command: 'pd pull --platform linux/arm64 ghcr.io/org/app:1.2 -o ./app-layout',
    },
    {
      note: 'an image with its SBOMs and signatures, for an air-gapped site',
      command: 'pd pull --referrers ghcr.io/org/app:1.2 -o ./app-layout',
    },
  ],
  async run(ctx, { args, values }) {
    if (values.output === undefined) throw new UsageError('missing --output (-o) PATH');
    platformChoice(values);
    checkOutput(values);
    const ref = await registryRef(args.REF!);
    // The layers come next: their connections open while the manifest is on its way.
    (await ctx.registry()).preconnect(ref);
    const platform = values['all-platforms'] ? 'all' : values.platform;
    const image = await openRemote(ctx, args.REF!, platform, values['keep-other-platforms']);
    // The digest printed is the written image's; report notes the source's when the format changed it.
    const result = await emit(ctx, image, values, ref);
    if (values.referrers) {
      if (result.format !== 'oci-layout' || result.path === undefined) {
        throw new UsageError('--referrers writes into an OCI layout', 'give a directory as -o');
      }
      const from = { registry: ref.registry, repository: ref.repository };
      const copied = await withReferrers(ctx, from, { layout: result.path }, await image.digest(), result);
      reportWithReferrers(ctx, { ...result, referrers: copied });
      return 0;
    }
    report(ctx, result);
    return 0;
  },
});
