import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { appendLayers, editConfig, type Layer, layerFromPaths, layerFromTarball } from '@pd/image';
import type { Compression } from '@pd/oci-types';
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

/** `SRC[:DEST]`: DEST, when given, is absolute; without it a directory lands at /, a file at /NAME. */
export function parseLayerArg(input: string): { src: string; dest: string | undefined } {
  const colon = input.lastIndexOf(':');
  if (colon > 0 && input[colon + 1] === '/')
    return { src: input.slice(0, colon), dest: input.slice(colon + 1) };
  if (colon > 0 && colon < input.length - 1 && !input.includes('/', colon)) {
    throw new UsageError(
      `--layer ${input}: the destination must be an absolute path`,
      'write SRC:/dest/path',
    );
  }
  return { src: input, dest: undefined };
}

export const append = defineCommand({
  name: 'append',
  usage:
    'BASE (-t REF | -o PATH) [--layer SRC[:DEST]]... [--tarball FILE]... [--env K=V]... [config options]',
  description:
    'BASE is a reference or a file (docker archive, OCI archive or layout). Each --layer makes one\n' +
    'reproducible layer of host files: a directory’s content lands at DEST (default /), a file at DEST\n' +
    '(default /NAME). --tarball adds an existing layer tar as it is. Only the new layers and the new\n' +
    'manifest and config move: pushing to the registry of BASE mounts its layers instead of copying.\n' +
    'A multi-platform BASE gives the image of this machine’s platform; --platform all (or a list)\n' +
    'appends the same layers to each platform’s image and writes an index.',
  args: [{ name: 'BASE' }],
  options: {
    layer: {
      type: 'string',
      multiple: true,
      value: 'SRC[:DEST]',
      complete: 'file',
      description: 'a layer of host files or directories placed at DEST',
    },
    tarball: {
      type: 'string',
      multiple: true,
      value: 'FILE',
      complete: 'file',
      description: 'a layer tar (gzip, zstd or plain)',
    },
    compression: {
      type: 'string',
      value: 'ALGO',
      choices: ['gzip', 'zstd'],
      description: 'compression of the new layers (default gzip)',
    },
    ...CONFIG_OPTIONS,
    ...OUTPUT_OPTIONS,
    ...MANY_PLATFORMS_OPTIONS,
  },
  json: OUTPUT_JSON,
  examples: [
    {
      note: 'an app on a base image, pushed',
      command:
        'pd append node:20-slim --layer ./dist:/app --workdir /app --cmd \'["node","server.js"]\' -t localhost:5000/app:1',
    },
    {
      note: 'into a file for docker load',
      command:
        'pd append busybox -o app.tar -t app:dev --layer ./bin/tool:/usr/local/bin/tool --env MODE=dev',
    },
  ],
  async run(ctx, { args, values }) {
    checkOutput(values);
    if (values.layer.length === 0 && values.tarball.length === 0) {
      throw new UsageError(
        'nothing to append: give --layer SRC[:DEST] or --tarball FILE',
        'pd mutate changes only the config',
      );
    }
    const edits = configEdits(values);
    const layerArgs = values.layer.map(parseLayerArg);
    const build = {
      compression: (values.compression ?? 'gzip') as Compression,
      signal: ctx.signal,
      onProgress: ctx.progress.listener,
    };
    const layers: Layer[] = [];
    for (const { src, dest } of layerArgs) {
      const isDir = (await stat(src)).isDirectory();
      layers.push(await layerFromPaths([{ src, dest: dest ?? (isDir ? '/' : `/${basename(src)}`) }], build));
    }
    for (const file of values.tarball) layers.push(await layerFromTarball(file, build));
    // Built once, whatever the number of platforms: every child gets the same layer blobs.
    const result = await changeInput(ctx, args.BASE!, values, async (base) => {
      const image = await appendLayers(base, layers);
      return edits ? editConfig(image, edits) : image;
    });
    report(ctx, await emit(ctx, result, values));
    return 0;
  },
});
