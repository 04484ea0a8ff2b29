import { stat } from 'node:fs/promises';
import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
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
import { reportWithReferrers, withReferrers } from './referrers-copy.js';
import { parseRef } from './shared.js';

/** The directory of an OCI layout PATH names (oci:DIR[:REF], or a directory); else a usage error. */
async function layoutDir(path: string): Promise<string> {
  const { parseImageSource } = await import('@pd/image');
  const source = await parseImageSource(path);
  const dir = source.transport === 'oci' || source.transport === 'file' ? source.path : undefined;
  if (
    dir === undefined ||
    !(await stat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  ) {
    throw new UsageError('--referrers pushes from an OCI layout', 'give the layout directory as PATH');
  }
  return dir;
}

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
    referrers: {
      type: 'boolean',
      description: 'also push what refers to the image in the OCI layout (SBOMs, signatures), recursively',
    },
  },
  json: PUSH_JSON,
  examples: [
    {
      note: 'push what docker saved',
      command: 'docker save app:dev -o app.tar && pd push app.tar localhost:5000/app:dev',
    },
    { note: 'push an OCI layout', command: 'pd push ./app-layout ghcr.io/org/app:1.2' },
    {
      note: 'with the referrers pulled along (pd pull --referrers)',
      command: 'pd push --referrers ./app-layout mirror.example.com/app:1.2',
    },
  ],
  async run(ctx, { args, values }) {
    const ref = parseRef(args.REF!);
    const digests = { compression: values.compression, 'preserve-digests': values['preserve-digests'] };
    checkDigestOptions(digests);
    platformChoice(values);
    const platform = values.platform === 'all' ? undefined : values.platform;
    const layout = values.referrers ? await layoutDir(args.PATH!) : undefined;
    const image = await openLocal(ctx, args.PATH!, platform, values['keep-other-platforms']);
    const result = await emit(ctx, image, { tag: ref.toString(), ...digests });
    if (layout === undefined) {
      report(ctx, result);
      return 0;
    }
    const to = { registry: ref.registry, repository: ref.repository };
    const copied = await withReferrers(ctx, { layout }, to, await image.digest(), result);
    reportWithReferrers(ctx, { ...result, referrers: copied });
    return 0;
  },
});
