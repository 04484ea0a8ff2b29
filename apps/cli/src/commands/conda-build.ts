import { buildCondaImage, type CondaEnvironmentInput, type CondaImage } from '@pd/conda';
import { type Image, newIndex, scratch } from '@pd/image';
import {
  type Compression,
  formatPlatform,
  normalizePlatform,
  type Platform,
  parsePlatform,
} from '@pd/oci-types';
import type { SbomFormat } from '@pd/sbom';
import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
import { emit, FORMATS, imageFor, OUTPUT_JSON, openWhole, report } from './image-io.js';
import { CONDA_PLATFORMS_VALUE } from './platform-options.js';
import { attachSboms, SBOM_OPTIONS } from './sbom-attach.js';
import { parseRef } from './shared.js';

/** conda subdirs and the image platform of the base they need. */
const SUBDIR_PLATFORMS: Record<string, string> = {
  'linux-64': 'linux/amd64',
  'linux-aarch64': 'linux/arm64',
  'linux-ppc64le': 'linux/ppc64le',
  'linux-s390x': 'linux/s390x',
};

/** Each --platform item as a conda subdir and the image platform of its base. */
export function condaPlatforms(value: string): { subdir: string; platform: Platform }[] {
  const out: { subdir: string; platform: Platform }[] = [];
  for (const item of value.split(',').map((x) => x.trim())) {
    let subdir = SUBDIR_PLATFORMS[item] ? item : undefined;
    if (!subdir) {
      const p = item.includes('/') ? normalizePlatform(parsePlatform(item)) : undefined;
      subdir = Object.keys(SUBDIR_PLATFORMS).find(
        (k) => p && p.os === 'linux' && SUBDIR_PLATFORMS[k] === `linux/${p.architecture}`,
      );
    }
    if (!subdir) {
      throw new UsageError(
        `--platform ${item}: no conda subdir builds for it`,
        `give one of ${Object.keys(SUBDIR_PLATFORMS).join(', ')} or the image platforms they run on`,
      );
    }
    if (out.some((o) => o.subdir === subdir))
      throw new UsageError(`--platform ${value}: ${subdir} is named twice`);
    out.push({ subdir, platform: parsePlatform(SUBDIR_PLATFORMS[subdir]!) });
  }
  return out;
}

/** Each lockfile by the conda subdir it is for; two for one subdir, or one that does not say, is an error. */
async function lockfilesByPlatform(files: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (files.length === 0) return out;
  const { explicitLockfilePlatform } = await import('@pd/conda');
  for (const file of files) {
    const subdir = await explicitLockfilePlatform(file);
    if (!subdir) {
      if (files.length === 1) return new Map([['linux-64', file]]);
      throw new UsageError(
        `${file} does not say its platform`,
        'add a "# platform: linux-64" line, as conda list --explicit writes',
      );
    }
    const other = out.get(subdir);
    if (other) throw new UsageError(`${other} and ${file} are both for ${subdir}`);
    out.set(subdir, file);
  }
  return out;
}

export const condaBuild = defineCommand({
  name: 'conda build',
  usage:
    '-b BASE -i NAME:TAG (-o PATH | --push) [-c CHANNEL]... [-f environment.yml | --lockfile FILE...] [SPEC...]',
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
      multiple: true,
      value: 'FILE',
      complete: 'file',
      description:
        'an explicit lockfile (conda list --explicit --md5); one per platform, each found by its\n' +
        '"# platform:" line (or its packages), and without --platform they say the platforms',
    },
    layering: {
      type: 'string',
      value: 'MODE',
      choices: ['layered', 'single'],
      description: 'one layer per package (default) or one in all',
    },
    platform: {
      type: 'string',
      value: CONDA_PLATFORMS_VALUE,
      description:
        'conda subdir (linux-64, linux-aarch64...) or image platform (linux/arm64), default linux-64; a\n' +
        'comma-separated list builds one environment per platform and writes an index',
    },
    prefix: { type: 'string', value: 'DIR', description: 'where the environment goes (default /opt/conda)' },
    ...SBOM_OPTIONS,
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
    if (values.sbom && !values.push) {
      throw new UsageError(
        '--sbom attaches to a pushed image: give --push',
        'pd sbom IMAGE writes one to a file',
      );
    }
    const inputs = [values.file !== undefined, values.lockfile.length > 0, rest.length > 0].filter(
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
    const locks = await lockfilesByPlatform(values.lockfile);
    const platforms = condaPlatforms(
      values.platform ?? (locks.size > 0 ? [...locks.keys()].join(',') : 'linux-64'),
    );
    const inputFor = (subdir: string): CondaEnvironmentInput => {
      if (values.file !== undefined) return { environmentYml: values.file };
      if (locks.size > 0) {
        const lockfile =
          locks.get(subdir) ??
          (locks.size === 1 && platforms.length === 1 ? [...locks.values()][0] : undefined);
        if (!lockfile) {
          throw new UsageError(
            `no lockfile is for ${subdir}`,
            `give one whose "# platform:" line says ${subdir}; the lockfiles are for ${[...locks.keys()].join(', ')}`,
          );
        }
        return { lockfile };
      }
      return { specs: rest, ...(values.channel.length > 0 ? { channels: values.channel } : {}) };
    };
    for (const { subdir } of platforms) inputFor(subdir);
    // The base is opened once: an index gives each platform its child, one image serves its own.
    const whole = values.base === 'scratch' ? undefined : await openWhole(ctx, values.base);
    const built: CondaImage[] = [];
    for (const { subdir, platform } of platforms) {
      const base: Image = whole
        ? await imageFor(ctx, whole, platform)
        : scratch({ platform: formatPlatform(platform) });
      built.push(
        await buildCondaImage(base, inputFor(subdir), {
          platform: subdir,
          layering: (values.layering ?? 'layered') as 'layered' | 'single',
          compression: (values.compression ?? 'gzip') as Compression,
          ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
          signal: ctx.signal,
          onProgress: ctx.progress.listener,
          onLog: (m) => ctx.warn(m),
        }),
      );
    }
    const image = built.length === 1 ? built[0]! : await newIndex(built.map((b) => ({ image: b })));
    const out = await emit(ctx, image, {
      tag: name.toString(),
      ...(values.output !== undefined ? { output: values.output } : {}),
      ...(values.format !== undefined ? { format: values.format } : {}),
    });
    if (values.sbom) await attachSboms(ctx, image, out, values['sbom-format'] as SbomFormat | undefined);
    const summaries = built.map((b, i) => ({
      platform: platforms[i]!.subdir,
      packages: b.conda.packages.map((p) => `${p.name}-${p.version}-${p.build}`),
      layers: b.conda.stats,
      warnings: b.conda.warnings,
    }));
    if (ctx.flags.json) {
      const [one] = summaries;
      ctx.printJson(
        summaries.length === 1 ? { ...out, ...one, platform: undefined } : { ...out, platforms: summaries },
      );
      return 0;
    }
    report(ctx, out);
    for (const s of summaries) {
      ctx.info(
        `${summaries.length > 1 ? `${s.platform}: ` : ''}${s.packages.length} package(s); layers built ${s.layers.built}, reused ${s.layers.reused}`,
      );
    }
    return 0;
  },
});
