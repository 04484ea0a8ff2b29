import { imagePlatform, rebase } from '@pd/image';
import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
import {
  changeInput,
  checkOutput,
  emit,
  imageFor,
  MANY_PLATFORMS_OPTIONS,
  OUTPUT_JSON,
  OUTPUT_OPTIONS,
  openWhole,
  report,
} from './image-io.js';

export const rebaseCommand = defineCommand({
  name: 'rebase',
  usage: '(REF | PATH) --old-base OLD --new-base NEW (-t REF | -o PATH)',
  description:
    'The layers of OLD at the bottom of the image are replaced by those of NEW; the layers above are\n' +
    'kept as they are. Config the image inherited from OLD follows NEW; what it set itself is kept. Pin\n' +
    'OLD by digest: it must be exactly the base the image was built on.',
  args: [{ name: 'IMAGE' }],
  options: {
    'old-base': {
      type: 'string',
      value: 'OLD',
      description: 'the base the image was built on (reference or file)',
    },
    'new-base': {
      type: 'string',
      value: 'NEW',
      description: 'the base to put underneath instead (reference or file)',
    },
    ...OUTPUT_OPTIONS,
    ...MANY_PLATFORMS_OPTIONS,
  },
  json: OUTPUT_JSON,
  examples: [
    {
      note: 'rebuild nothing after a base image update',
      command:
        'pd rebase localhost:5000/app:1 --old-base debian@sha256:… --new-base debian:12 -t localhost:5000/app:1-rebased',
    },
  ],
  async run(ctx, { args, values }) {
    const oldBase = values['old-base'];
    const newBase = values['new-base'];
    if (oldBase === undefined) throw new UsageError('missing --old-base OLD');
    if (newBase === undefined) throw new UsageError('missing --new-base NEW');
    checkOutput(values);
    // The bases are opened whole: each image (or each child of an index) is rebased onto the
    // bases' images of its own platform.
    const [o, n] = await Promise.all([openWhole(ctx, oldBase), openWhole(ctx, newBase)]);
    const rebased = await changeInput(ctx, args.IMAGE!, values, async (image, platform) => {
      const want = platform ?? (await imagePlatform(image));
      const [oldImage, newImage] = await Promise.all([imageFor(ctx, o, want), imageFor(ctx, n, want)]);
      return rebase(image, { oldBase: oldImage, newBase: newImage });
    });
    report(ctx, await emit(ctx, rebased, values));
    return 0;
  },
});
