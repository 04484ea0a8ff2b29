import { defineCommand } from '../command.js';
import { emit, openLocal, PLATFORM_OPTION, PUSH_JSON, report } from './image-io.js';
import { parseRef } from './shared.js';

export const pushCommand = defineCommand({
  name: 'push',
  summary: 'upload an image from a file or an OCI layout to a registry',
  usage: 'PATH REF [--platform OS/ARCH]',
  description:
    'PATH is a docker archive (docker save, pd pull), an OCI archive or an OCI layout directory. A\n' +
    'multi-platform index is pushed whole unless --platform picks one image. Blobs the registry has\n' +
    'already are skipped, and blobs of another repository on the same registry are mounted.',
  args: [{ name: 'PATH', complete: 'file' }, { name: 'REF' }],
  options: { platform: PLATFORM_OPTION },
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
    const image = await openLocal(ctx, args.PATH!, values.platform);
    report(ctx, await emit(ctx, image, { tag: ref.toString() }));
    return 0;
  },
});
