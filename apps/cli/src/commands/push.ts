import { defineCommand } from '../command.js';
import {
  COMPRESSION_OPTION,
  checkDigestOptions,
  emit,
  MANY_PLATFORMS_OPTIONS,
  openLocal,
  PRESERVE_DIGESTS_OPTION,
  PUSH_JSON,
  platformChoice,
  report,
} from './image-io.js';
import { parseRef } from './shared.js';

export const pushCommand = defineCommand({
  name: 'push',
  usage: 'PATH REF [--platform OS/ARCH] [--compression gzip|zstd|none | --preserve-digests]',
  description:
    'PATH is a docker archive (docker save, pd pull), an OCI archive or an OCI layout directory. A\n' +
    'multi-platform index is pushed whole unless --platform picks one image. Blobs the registry has\n' +
    'already are skipped, and blobs of another repository on the same registry are mounted.\n' +
    'Uncompressed layers (docker save writes them so) are gzipped on the way, in parallel and\n' +
    'deterministically (--compression picks zstd or none); then the pushed digest is not the\n' +
    "archive's, and pd says so (--json: sourceDigest and changed). zstd makes a Docker-format image\n" +
    "OCI (Docker schema 2 has no zstd type), and an OCI config never keeps Docker's null fields.\n" +
    'Layers already compressed go as they are. --preserve-digests pushes every manifest byte for\n' +
    'byte, so a pd pull --format oci --preserve-digests / pd push round trip keeps every digest.\n' +
    'The pushed REF@DIGEST is printed on stdout.',
  args: [{ name: 'PATH', complete: 'file' }, { name: 'REF' }],
  options: {
    ...MANY_PLATFORMS_OPTIONS,
    compression: COMPRESSION_OPTION,
    'preserve-digests': PRESERVE_DIGESTS_OPTION,
  },
  json: PUSH_JSON,
  examples: [
    {
      note: 'push what docker saved',
      command: 'docker save app:dev -o app.tar && pd push app.tar localhost:5000/app:dev',
    },
    { note: 'push an OCI layout', command: 'pd push ./app-layout ghcr.io/org/app:1.2' },
  ],
  async run(ctx, { args, values }) {
    const ref = parseRef(args.REF!);
    const digests = { compression: values.compression, 'preserve-digests': values['preserve-digests'] };
    checkDigestOptions(digests);
    platformChoice(values);
    const platform = values.platform === 'all' ? undefined : values.platform;
    const image = await openLocal(ctx, args.PATH!, platform, values['keep-other-platforms']);
    report(ctx, await emit(ctx, image, { tag: ref.toString(), ...digests }));
    return 0;
  },
});
