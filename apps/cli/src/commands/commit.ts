import { editConfig } from '@pd/image';
import type { Compression } from '@pd/oci-types';
import { commitContainer } from '@pd/runner';
import { defineCommand } from '../command.js';
import { CONFIG_OPTIONS, configEdits } from './config-flags.js';
import { checkOutput, emit, OUTPUT_JSON, OUTPUT_OPTIONS, report } from './image-io.js';

export const commitCommand = defineCommand({
  name: 'commit',
  usage: 'CONTAINER (-t REF | -o PATH) [-m MESSAGE] [--author A] [config options]',
  description:
    'CONTAINER is a name, an id or a unique id prefix (pd ps -a lists them; pd run keeps a container\n' +
    'unless told to remove it). What it wrote, replaced or deleted becomes one layer (deletions as whiteouts,\n' +
    'owners, modes and extended attributes kept) on top of the image it ran, whose config is kept;\n' +
    'config options change it as pd mutate does. Under SOURCE_DATE_EPOCH file times and the image\n' +
    'time are clamped to it, so the same changes give the same digest. A running container is read\n' +
    'as it is at that moment: stop it first for a consistent snapshot.',
  args: [{ name: 'CONTAINER' }],
  options: {
    message: { type: 'string', short: 'm', value: 'TEXT', description: 'comment of the new history entry' },
    author: { type: 'string', value: 'NAME', description: 'author of the new history entry' },
    compression: {
      type: 'string',
      value: 'ALGO',
      choices: ['gzip', 'zstd'],
      description: 'compression of the new layer (default gzip)',
    },
    ...CONFIG_OPTIONS,
    ...OUTPUT_OPTIONS,
  },
  json: OUTPUT_JSON,
  examples: [
    {
      note: 'install something in a container, keep it as an image',
      command:
        'pd run --name setup debian:12 sh -c "apt-get update && apt-get install -y curl" && pd commit setup -t localhost:5000/debian-curl:1',
    },
    { note: 'with a new default command, into a file', command: 'pd commit setup --cmd bash -o curl.tar' },
  ],
  async run(ctx, { args, values }) {
    checkOutput(values);
    const edits = configEdits(values);
    const history = {
      created_by: 'pd commit',
      ...(values.message !== undefined ? { comment: values.message } : {}),
      ...(values.author !== undefined ? { author: values.author } : {}),
    };
    let image = await commitContainer(args.CONTAINER!, {
      history,
      compression: (values.compression ?? 'gzip') as Compression,
      signal: ctx.signal,
      onProgress: ctx.progress.listener,
    });
    if (edits) image = await editConfig(image, edits);
    report(ctx, await emit(ctx, image, values));
    return 0;
  },
});
