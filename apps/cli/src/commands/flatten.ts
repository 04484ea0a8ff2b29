import { flatten } from '@pd/image';
import type { Compression } from '@pd/oci-types';
import { defineCommand } from '../command.js';
import {
  changeInput,
  checkOutput,
  emit,
  MANY_PLATFORMS_OPTIONS,
  OUTPUT_JSON,
  OUTPUT_OPTIONS,
  preconnectLayers,
  report,
} from './image-io.js';

export const flattenCommand = defineCommand({
  name: 'flatten',
  usage: '(REF | PATH) (-t REF | -o PATH)',
  description:
    'The new single layer holds the merged filesystem: whiteouts applied, files hidden by upper layers\n' +
    'dropped. The config is kept; the history becomes one entry.',
  args: [{ name: 'IMAGE' }],
  options: {
    ...OUTPUT_OPTIONS,
    compression: {
      type: 'string',
      value: 'ALGO',
      choices: ['gzip', 'zstd'],
      description: 'compression of the layer (default gzip)',
    },
    ...MANY_PLATFORMS_OPTIONS,
  },
  json: OUTPUT_JSON,
  examples: [
    {
      note: 'one layer instead of many',
      command: 'pd flatten localhost:5000/app:1 -t localhost:5000/app:1-flat',
    },
  ],
  async run(ctx, { args, values }) {
    checkOutput(values);
    const options = {
      compression: (values.compression ?? 'gzip') as Compression,
      signal: ctx.signal,
      onProgress: ctx.progress.listener,
    };
    // Every layer is read: from a registry, they come down on connections opened meanwhile.
    await preconnectLayers(ctx, args.IMAGE!);
    const flat = await changeInput(ctx, args.IMAGE!, values, (image) => flatten(image, options));
    report(ctx, await emit(ctx, flat, values));
    return 0;
  },
});
