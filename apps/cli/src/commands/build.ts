import { dirname, resolve } from 'node:path';
import { buildImage, loadSpec, resolveSpecFile, specReference } from '@pd/build';
import type { Compression } from '@pd/oci-types';
import { defineCommand } from '../command.js';
import { checkOutput, emit, OUTPUT_JSON, OUTPUT_OPTIONS, report } from './image-io.js';
import { parseRef } from './shared.js';

export const build = defineCommand({
  name: 'build',
  summary: 'build an image from a pd.yaml (base, files, layers, conda environment, config)',
  usage: '[FILE | DIR] (-o PATH | -t REF)',
  description:
    'FILE defaults to ./pd.yaml; a DIR means DIR/pd.yaml, as docker build reads DIR/Dockerfile. Paths in\n' +
    'it are relative to its directory. The build is reproducible: every time in the image is\n' +
    'SOURCE_DATE_EPOCH (else 0) and every layer is deterministic, so the same inputs give the same\n' +
    'digest. With -o, the image is named after the name and tag in the file (or -t). See\n' +
    "@pd/build's README (packages/builder in the repository) for every field.",
  args: [{ name: 'FILE', required: false, complete: 'file' }],
  options: {
    ...OUTPUT_OPTIONS,
    compression: {
      type: 'string',
      value: 'ALGO',
      choices: ['gzip', 'zstd'],
      description: 'layer compression (default gzip)',
    },
  },
  json: OUTPUT_JSON,
  examples: [
    {
      note: 'build the example into a file docker loads',
      command: 'pd build examples/pd.yaml -o /tmp/pd-example.tar',
    },
    { note: 'build ./pd.yaml and push it', command: 'pd build -t localhost:5000/app:1' },
    { note: 'build the pd.yaml of a directory', command: 'pd build ./app -o app.tar' },
  ],
  async run(ctx, { args, values }) {
    checkOutput(values);
    const file = await resolveSpecFile(args.FILE ?? '.');
    const spec = await loadSpec(file);
    const named = specReference(spec);
    const image = await buildImage(spec, {
      baseDir: dirname(resolve(file)),
      compression: (values.compression ?? 'gzip') as Compression,
      signal: ctx.signal,
      onProgress: ctx.progress.listener,
      onLog: (m) => ctx.warn(m),
      ...(ctx.flags.insecure ? { client: await ctx.registry() } : {}),
    });
    report(ctx, await emit(ctx, image, values, named !== undefined ? parseRef(named) : undefined));
    return 0;
  },
});
