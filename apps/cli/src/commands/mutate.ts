import { editConfig } from '@pd/image';
import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
import { CONFIG_OPTIONS, configEdits } from './config-flags.js';
import {
  changeInput,
  checkOutput,
  emit,
  MANY_PLATFORMS_OPTIONS,
  OUTPUT_JSON,
  OUTPUT_OPTIONS,
  report,
} from './image-io.js';

export const mutate = defineCommand({
  name: 'mutate',
  usage:
    '(REF | PATH) (-t REF | -o PATH) [--env K=V]... [--entrypoint CMD] [--cmd CMD] [--workdir D] [--user U] [--label K=V]...',
  description:
    'Writes a new config and manifest; the layers are the same blobs (pushing to the same registry moves\n' +
    'no layer bytes). Env and labels merge into what the image has; "" clears entrypoint, cmd, workdir, user.',
  args: [{ name: 'IMAGE' }],
  options: { ...CONFIG_OPTIONS, ...OUTPUT_OPTIONS, ...MANY_PLATFORMS_OPTIONS },
  json: OUTPUT_JSON,
  examples: [
    {
      note: 'retag with a new default command',
      command: 'pd mutate localhost:5000/app:1 --cmd "serve --port 8080" -t localhost:5000/app:1-serve',
    },
    {
      note: 'label a saved image',
      command:
        'pd mutate app.tar --label org.opencontainers.image.revision=$(git rev-parse HEAD) -o app-labelled.tar',
    },
  ],
  async run(ctx, { args, values }) {
    checkOutput(values);
    const edits = configEdits(values);
    if (!edits)
      throw new UsageError('nothing to change: give at least one config option (--env, --cmd, --label...)');
    const changed = await changeInput(ctx, args.IMAGE!, values, (image) => editConfig(image, edits));
    report(ctx, await emit(ctx, changed, values));
    return 0;
  },
});
