import { buildCondaImage, type CondaEnvironmentInput } from '@pd/conda';
import { type Image, scratch } from '@pd/image';
import type { Compression } from '@pd/oci-types';
import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
import { emit, FORMATS, OUTPUT_JSON, openInput, report } from './image-io.js';
import { parseRef } from './shared.js';

/** conda subdirs and the image platform of the base they need. */
const SUBDIR_PLATFORMS: Record<string, string> = {
  'linux-64': 'linux/amd64',
  'linux-aarch64': 'linux/arm64',
  'linux-ppc64le': 'linux/ppc64le',
  'linux-s390x': 'linux/s390x',
};

export const condaBuild = defineCommand({
  name: 'conda build',
  summary: 'put a conda environment into an image, without conda',
  usage:
    '-b BASE -i NAME:TAG (-o PATH | --push) [-c CHANNEL]... [-f environment.yml | --lockfile FILE] [SPEC...]',
  description:
    'The environment (SPECs, an environment.yml or an explicit lockfile) is solved with rattler, its\n' +
    'packages fetched with checksums into the cache, and linked under --prefix with prefix rewriting:\n' +
    'one layer per package (--layering layered, the default; rebuilds reuse unchanged layers) or one\n' +
    'for all. PATH gets <prefix>/bin first. BASE "scratch" means an empty image.',
  args: [{ name: 'SPEC', required: false, variadic: true }],
  options: {
    base: {
      type: 'string',
      short: 'b',
      value: 'BASE',
      description: 'image to build on (reference, file, or scratch)',
    },
    image: {
      type: 'string',
      short: 'i',
      value: 'NAME:TAG',
      description: 'name of the result (pushed there with --push)',
    },
    output: {
      type: 'string',
      short: 'o',
      value: 'PATH',
      complete: 'file',
      description: 'write to PATH (NAME.tar or a directory)',
    },
    push: { type: 'boolean', description: 'push to the --image reference' },
    format: {
      type: 'string',
      value: 'FORMAT',
      choices: FORMATS,
      description: 'archive format of -o NAME.tar',
    },
    channel: {
      type: 'string',
      short: 'c',
      multiple: true,
      value: 'CHANNEL',
      description: 'channel name or URL, highest priority first (default conda-forge)',
    },
    file: { type: 'string', short: 'f', value: 'FILE', complete: 'file', description: 'an environment.yml' },
    lockfile: {
      type: 'string',
      value: 'FILE',
      complete: 'file',
      description: 'an explicit lockfile (conda list --explicit --md5)',
    },
    layering: {
      type: 'string',
      value: 'MODE',
      choices: ['layered', 'single'],
      description: 'one layer per package (default) or one in all',
    },
    platform: {
      type: 'string',
      value: 'SUBDIR',
      choices: Object.keys(SUBDIR_PLATFORMS),
      description: 'conda platform (default linux-64)',
    },
    prefix: { type: 'string', value: 'DIR', description: 'where the environment goes (default /opt/conda)' },
    compression: {
      type: 'string',
      value: 'ALGO',
      choices: ['gzip', 'zstd'],
      description: 'layer compression (default gzip)',
    },
  },
  json: `${OUTPUT_JSON.replace('(with -t, pushed)', '(with --push)')}\n  plus "packages": ["name-version-build", …], "layers": { "built": 3, "reused": 9 }, "warnings": []`,
  examples: [
    {
      note: 'numpy on a slim base, pushed',
      command: 'pd conda build -b debian:12-slim -i localhost:5000/numpy:1 --push numpy python=3.12',
    },
    {
      note: 'an environment.yml into a file for docker load',
      command: 'pd conda build -b debian:12-slim -i env:dev -f environment.yml -o env.tar',
    },
  ],
  async run(ctx, { values, rest }) {
    if (values.base === undefined)
      throw new UsageError('missing --base (-b) BASE', 'an image to build on, or scratch');
    if (values.image === undefined) throw new UsageError('missing --image (-i) NAME:TAG');
    const name = parseRef(values.image);
    if (values.output === undefined && !values.push)
      throw new UsageError('say where the result goes: -o PATH, or --push');
    if (values.output !== undefined && values.push) throw new UsageError('give -o PATH or --push, not both');
    const inputs = [values.file !== undefined, values.lockfile !== undefined, rest.length > 0].filter(
      Boolean,
    ).length;
    if (inputs === 0)
      throw new UsageError('no environment: give SPECs, -f environment.yml or --lockfile FILE');
    if (inputs > 1) throw new UsageError('give one of SPECs, -f environment.yml and --lockfile FILE');
    if (values.channel.length > 0 && rest.length === 0) {
      throw new UsageError(
        '-c applies to SPECs',
        'an environment.yml names its own channels; a lockfile its URLs',
      );
    }
    const subdir = values.platform ?? 'linux-64';
    const platform = SUBDIR_PLATFORMS[subdir]!;
    const input: CondaEnvironmentInput =
      values.file !== undefined
        ? { environmentYml: values.file }
        : values.lockfile !== undefined
          ? { lockfile: values.lockfile }
          : { specs: rest, ...(values.channel.length > 0 ? { channels: values.channel } : {}) };
    const base: Image =
      values.base === 'scratch' ? scratch({ platform }) : await openInput(ctx, values.base, platform);
    const image = await buildCondaImage(base, input, {
      platform: subdir,
      layering: (values.layering ?? 'layered') as 'layered' | 'single',
      compression: (values.compression ?? 'gzip') as Compression,
      ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
      signal: ctx.signal,
      onProgress: ctx.progress.listener,
      onLog: (m) => ctx.warn(m),
    });
    const out = await emit(ctx, image, {
      tag: name.toString(),
      ...(values.output !== undefined ? { output: values.output } : {}),
      ...(values.format !== undefined ? { format: values.format } : {}),
    });
    const report_ = image.conda;
    const packages = report_.packages.map((p) => `${p.name}-${p.version}-${p.build}`);
    if (ctx.flags.json) {
      ctx.printJson({ ...out, packages, layers: report_.stats, warnings: report_.warnings });
      return 0;
    }
    report(ctx, out);
    ctx.info(
      `${packages.length} package(s); layers built ${report_.stats.built}, reused ${report_.stats.reused}`,
    );
    return 0;
  },
});
