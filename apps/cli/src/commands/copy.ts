import { parseImageDestination } from '@pd/image';
import { defineCommand } from '../command.js';
import {
  COMPRESSION_OPTION,
  checkDigestOptions,
  emit,
  MANY_PLATFORMS_OPTIONS,
  openAny,
  PRESERVE_DIGESTS_OPTION,
  platformChoice,
  registryRef,
  report,
} from './image-io.js';

export const copy = defineCommand({
  name: 'copy',
  summary: 'copy an image from one registry or repository to another',
  usage:
    'SRC_REF DST_REF [--all-platforms | --platform OS/ARCH] [--compression gzip|zstd|none | --preserve-digests]',
  description:
    'Blobs go straight from source to destination (nothing is unpacked); within one registry they are\n' +
    'mounted instead of copied. A multi-platform source is copied as the image for this machine unless\n' +
    '--all-platforms keeps the whole index (same digest at the destination). As with skopeo, SRC_REF may\n' +
    'also be docker://REF or a file (docker-archive:FILE[:TAG|:@N], oci:DIR[:REF], oci-archive:FILE[:REF],\n' +
    'a plain PATH[:TAG|:@N]), and DST_REF one of those file transports.\n' +
    'Registry to registry, every digest is kept. Uncompressed layers (a docker archive source) are\n' +
    'gzipped for a registry, as skopeo does, and kept as they are in files unless --compression is\n' +
    'given; a Docker-format image written to oci: or oci-archive: becomes OCI unless\n' +
    '--preserve-digests. pd notes the source digest whenever the written one differs.',
  args: [{ name: 'SRC_REF' }, { name: 'DST_REF' }],
  options: {
    'all-platforms': {
      type: 'boolean',
      description: 'copy every platform of an index, keeping its digest: --platform all',
    },
    ...MANY_PLATFORMS_OPTIONS,
    compression: COMPRESSION_OPTION,
    'preserve-digests': PRESERVE_DIGESTS_OPTION,
  },
  json:
    '{ "digest": "sha256:…", "size": 1234, "mediaType": "…",\n' +
    '  "reference": "127.0.0.1:5000/app:1"  (to a registry)  |  "path": "app.tar", "format": "oci"  (to a file) }',
  examples: [
    {
      note: 'mirror a multi-platform image',
      command: 'pd copy --all-platforms docker.io/library/alpine:3.20 localhost:5000/alpine:3.20',
    },
    {
      note: 'promote a build',
      command: 'pd copy registry.example.com/app:sha-1a2b3c registry.example.com/app:prod',
    },
  ],
  async run(ctx, { args, values }) {
    platformChoice(values);
    // A file transport as DST_REF writes there (skopeo's `copy ... oci:DIR:REF`); else it is a reference.
    const file = parseImageDestination(args.DST_REF!).transport !== undefined;
    const dst = file ? undefined : await registryRef(args.DST_REF!);
    const digests = { compression: values.compression, 'preserve-digests': values['preserve-digests'] };
    checkDigestOptions(file ? { ...digests, output: args.DST_REF! } : digests);
    const platform = values['all-platforms'] ? 'all' : values.platform;
    const image = await openAny(ctx, args.SRC_REF!, platform, values['keep-other-platforms']);
    const to = dst ? { tag: dst.toString() } : { output: args.DST_REF! };
    report(ctx, await emit(ctx, image, { ...to, ...digests }));
    return 0;
  },
});
