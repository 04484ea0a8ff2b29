import { defineCommand } from '../command.js';
import { fetchManifest } from './registry-manifest.js';
import { PLATFORM_OPTION } from './shared.js';

export const digest = defineCommand({
  name: 'digest',
  usage: 'REF [--platform OS/ARCH]',
  description:
    'Asks the registry for the manifest REF names and prints its digest: for a multi-platform image, the\n' +
    'digest of the index (pin it with REPO@DIGEST); with --platform, the digest of that platform’s image.\n' +
    'REF may also be a file or layout, one image of it picked as skopeo does: docker-archive:FILE[:TAG|:@N],\n' +
    'oci:DIR[:REF], oci-archive:FILE[:REF], PATH[:TAG|:@N] (docker://REF forces the registry).',
  args: [{ name: 'REF' }],
  options: { platform: PLATFORM_OPTION },
  json:
    '{ "reference": "127.0.0.1:5000/app:1", "digest": "sha256:…", "mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1234 }\n' +
    '(of a file: "path": "app.tar" instead of "reference")',
  examples: [
    { note: 'digest of a tag', command: 'pd digest ghcr.io/org/app:1.2' },
    {
      note: 'the arm64 image of a multi-platform tag',
      command: 'pd digest --platform linux/arm64 ubuntu:24.04',
    },
    {
      note: 'pin a reference in a script',
      command: 'ref="localhost:5000/app@$(pd digest localhost:5000/app:1)"',
    },
  ],
  async run(ctx, { args, values }) {
    const { parseImageSource } = await import('@pd/image');
    const source = await parseImageSource(args.REF!);
    if (source.transport !== 'docker') {
      const { openAny } = await import('./image-io.js');
      const got = await openAny(ctx, source, values.platform ?? 'all');
      const [digest, mediaType, size] = await Promise.all([got.digest(), got.mediaType(), got.size()]);
      if (ctx.flags.json) ctx.printJson({ path: source.path, digest, mediaType, size });
      else ctx.print(digest);
      return 0;
    }
    const ref = source.ref;
    let result: { digest: string; mediaType: string; size: number };
    if (values.platform === undefined) {
      // HEAD says only "404"; GET explains what is missing (repository or tag) and how to fix it.
      const client = await ctx.registry();
      result =
        (await client.headManifest(ref, { signal: ctx.signal })) ??
        (await client.getManifest(ref, { signal: ctx.signal }));
    } else {
      result = await fetchManifest(ctx, ref, values.platform);
    }
    if (ctx.flags.json) {
      ctx.printJson({
        reference: ref.toString(),
        digest: result.digest,
        mediaType: result.mediaType,
        size: result.size,
      });
    } else {
      ctx.print(result.digest);
    }
    return 0;
  },
});
