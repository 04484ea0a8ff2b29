import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
import { parseDigestRef, writeFileAtomic } from './shared.js';

export const blob = defineCommand({
  name: 'blob',
  usage: 'REPO@DIGEST [-o FILE]',
  description:
    'Streams the blob to stdout or into FILE. The bytes are hashed on the way and the command fails on a\n' +
    'mismatch; FILE is written to a temporary name and renamed only once verified.',
  args: [{ name: 'REPO@DIGEST' }],
  options: {
    output: {
      type: 'string',
      short: 'o',
      value: 'FILE',
      complete: 'file',
      description: 'write to FILE instead of stdout',
    },
  },
  json: '{ "digest": "sha256:…", "size": 1234, "path": "layer.tar.gz" }   (with -o)',
  examples: [
    {
      note: 'the config of an image',
      command: 'pd blob localhost:5000/app@$(pd manifest localhost:5000/app:1 | jq -r .config.digest) | jq .',
    },
    { note: 'save a layer', command: 'pd blob -o layer.tgz localhost:5000/app@sha256:…' },
  ],
  async run(ctx, { args, values }) {
    const ref = parseDigestRef(args['REPO@DIGEST']!);
    if (ctx.flags.json && values.output === undefined) {
      throw new UsageError(
        '--json describes a blob written with -o FILE; without -o the blob itself is the output',
      );
    }
    const stream = await (await ctx.registry()).getBlob(ref, ref.digest, {
      signal: ctx.signal,
      onProgress: ctx.progress.listener,
    });
    if (values.output !== undefined) {
      await writeFileAtomic(values.output, stream, ctx.signal);
      const { size } = await stat(values.output);
      if (ctx.flags.json) ctx.printJson({ digest: ref.digest, size, path: values.output });
      else ctx.print(`wrote ${ref.digest} to ${values.output}`);
    } else {
      await pipeline(stream, ctx.io.stdout, { end: false, signal: ctx.signal });
    }
    return 0;
  },
});
