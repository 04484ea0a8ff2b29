import { defineCommand } from '../command.js';
import { fetchManifest } from './registry-manifest.js';
import { PLATFORM_OPTION, parseRef } from './shared.js';

export const manifest = defineCommand({
  name: 'manifest',
  usage: 'REF [--platform OS/ARCH]',
  description:
    'Writes the manifest exactly as the registry serves it (its sha256 is the digest), for jq or for\n' +
    're-pushing. With --platform, an index is followed to the manifest of that platform.',
  args: [{ name: 'REF' }],
  options: { platform: PLATFORM_OPTION },
  json: '{ "reference": "…", "digest": "sha256:…", "mediaType": "…", "size": 1234, "manifest": { …the parsed manifest… } }',
  examples: [
    { note: 'layers of an image', command: 'pd manifest localhost:5000/app:1 | jq ".layers[].digest"' },
    {
      note: 'the amd64 image of a multi-platform tag',
      command: 'pd manifest --platform linux/amd64 ubuntu:24.04',
    },
  ],
  async run(ctx, { args, values }) {
    const m = await fetchManifest(ctx, parseRef(args.REF!), values.platform);
    if (ctx.flags.json) {
      ctx.printJson({
        reference: m.ref.toString(),
        digest: m.digest,
        mediaType: m.mediaType,
        size: m.size,
        manifest: JSON.parse(m.bytes.toString('utf8')) as unknown,
      });
    } else {
      ctx.io.stdout.write(m.bytes);
    }
    return 0;
  },
});
