import { dirname, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { buildImage, buildIndex, loadSpec, resolveSpecFile, specReference } from '@pd/build';
import type { Compression } from '@pd/oci-types';
import type { SbomFormat } from '@pd/sbom';
import { defineCommand } from '../command.js';
import { checkOutput, emit, OUTPUT_JSON, OUTPUT_OPTIONS, report } from './image-io.js';
import { parsePlatformChoice } from './platform.js';
import { PLATFORMS_OPTION } from './platform-options.js';
import { attachSboms, checkSbom, SBOM_OPTIONS } from './sbom-attach.js';
import { parseRef } from './shared.js';

export const build = defineCommand({
  name: 'build',
  usage: '[FILE | DIR] (-o PATH | -t REF)',
  description:
    'FILE defaults to ./pd.yaml; a DIR means DIR/pd.yaml, as docker build reads DIR/Dockerfile. Paths in\n' +
    'it are relative to its directory. The build is reproducible: every time in the image is\n' +
    'SOURCE_DATE_EPOCH (else 0) and every layer is deterministic, so the same inputs give the same\n' +
    'digest. With -o, the image is named after the name and tag in the file (or -t). See\n' +
    "@pd/build's README (packages/builder in the repository) for every field.\n" +
    '\n' +
    'A pd.yaml with `platforms: [linux/amd64, linux/arm64]` builds an index: one child per platform,\n' +
    "each on the base's image for it, the shared layers built once, each platform's `overrides` added.\n" +
    "--platform replaces the file's platform(s): one platform builds one image, a list builds an\n" +
    'index, `all` every platform of the base index. -t pushes an index (children first), -o DIR or\n' +
    '-o oci-archive:FILE writes it; a docker archive holds one platform only.',
  args: [{ name: 'FILE', required: false, complete: 'file' }],
  options: {
    ...OUTPUT_OPTIONS,
    ...SBOM_OPTIONS,
    platform: {
      ...PLATFORMS_OPTION,
      description:
        "the platform to build, in place of pd.yaml's platform(s): one builds one image, a list an index,\n" +
        '`all` an index of every platform of the base index',
    },
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
    {
      note: 'build for amd64 and arm64 and push the index',
      command: 'pd build --platform linux/amd64,linux/arm64 -t localhost:5000/app:1',
    },
    {
      note: 'build for every platform of the base, into an OCI layout',
      command: 'pd build --platform all -o oci:app-layout:1',
    },
  ],
  async run(ctx, { args, values }) {
    checkOutput(values);
    checkSbom(values);
    const file = await resolveSpecFile(args.FILE ?? '.');
    const spec = await loadSpec(file);
    const named = specReference(spec);
    const choice = values.platform !== undefined ? parsePlatformChoice(values.platform) : undefined;
    const options = {
      baseDir: dirname(resolve(file)),
      compression: (values.compression ?? 'gzip') as Compression,
      signal: ctx.signal,
      onProgress: ctx.progress.listener,
      onLog: (m: string) => ctx.warn(m),
      // run: steps: their output as docker build shows it, and a line per step.
      ...(ctx.flags.quiet
        ? {}
        : { stepOutput: new Writable({ write: (c, _e, cb) => cb(void ctx.io.stderr.write(c)) }) }),
      onStep: (s: { index: number; of: number; run: string | string[]; cached: boolean }) =>
        ctx.info(
          `run ${s.index + 1}/${s.of}${s.cached ? ' (cached)' : ''}: ${typeof s.run === 'string' ? s.run : JSON.stringify(s.run)}`,
        ),
      ...(ctx.flags.insecure ? { client: await ctx.registry() } : {}),
    };
    // --platform replaces the file's platform(s): one builds one image, a list or `all` an index.
    const image =
      choice && 'one' in choice
        ? await buildImage(spec, { ...options, platform: choice.one })
        : choice || spec.platforms
          ? await buildIndex(spec, { ...options, ...(choice ? { platforms: choice.many } : {}) })
          : await buildImage(spec, options);
    const result = await emit(ctx, image, values, named !== undefined ? parseRef(named) : undefined);
    if (values.sbom) await attachSboms(ctx, image, result, values['sbom-format'] as SbomFormat | undefined);
    report(ctx, result);
    return 0;
  },
});
