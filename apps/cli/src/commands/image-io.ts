import { stat } from 'node:fs/promises';
import {
  BlobLocations,
  compressAll,
  hasNullFields,
  type Image,
  type ImageDestination,
  type ImageIndex,
  type ImageSource,
  imageForPlatform,
  imagePlatform,
  type ManifestPolicy,
  type MapIndexOptions,
  mapIndex,
  NoSuchImageFileError,
  openImage,
  openSource,
  parseImageDestination,
  parseImageSource,
  push,
  remote,
  writeDockerArchive,
  writeOciArchive,
  writeOciLayout,
} from '@pd/image';
import {
  type Compression,
  formatPlatform,
  MediaType,
  PdError,
  type Platform,
  type Reference,
} from '@pd/oci-types';
import type { OptionSpec } from '../command.js';
import type { Context } from '../context.js';
import { UsageError } from '../output/errors.js';
import { ensurePlatform, type PlatformChoice, parsePlatformChoice } from './platform.js';
import { KEEP_OTHER_PLATFORMS_OPTION, PLATFORMS_OPTION } from './platform-options.js';
import { PLATFORM_OPTION, parseRef, refuseUrl } from './shared.js';

export const FORMATS = ['combined', 'docker', 'oci'] as const;
export type Format = (typeof FORMATS)[number];

/** `-t` / `-o` / `--format`: where a command puts the image it made. */
export const OUTPUT_OPTIONS = {
  tag: {
    type: 'string',
    short: 't',
    value: 'REF',
    description: 'push the result to REF (with -o: only name the image REF inside the file)',
  },
  output: {
    type: 'string',
    short: 'o',
    value: 'PATH',
    complete: 'file',
    description:
      'write the result to PATH: NAME.tar is an archive, anything else an OCI layout directory; or name the\n' +
      'format and the image as skopeo does: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:TAG]',
  },
  format: {
    type: 'string',
    value: 'FORMAT',
    choices: FORMATS,
    description:
      'archive format of -o NAME.tar: combined (default; docker load and OCI tools read it), docker (classic docker save), oci',
  },
} as const satisfies Record<string, OptionSpec>;

export const OUTPUT_JSON =
  '{ "digest": "sha256:…", "size": 1234, "mediaType": "…",\n' +
  '  "reference": "127.0.0.1:5000/app:1"  (with -t, pushed)  |  "path": "app.tar", "format": "combined"  (with -o) }';
/** The same for commands that only push (push) or only write files (pull): no -t / -o to name. */
export const PUSH_JSON =
  '{ "digest": "sha256:…", "size": 1234, "mediaType": "…", "reference": "127.0.0.1:5000/app:1" }';
export const WRITE_JSON =
  '{ "digest": "sha256:…", "size": 1234, "mediaType": "…", "path": "app.tar", "format": "combined" }';

/**
 * `--compression`: how uncompressed layers (docker save's) are written where they are compressed,
 * as skopeo's --dest-compress-format: a registry gets gzip unless told; files keep layers as they
 * are unless told.
 */
export const COMPRESSIONS = ['gzip', 'zstd', 'none'] as const;
export const COMPRESSION_OPTION = {
  type: 'string',
  value: 'ALGO',
  choices: COMPRESSIONS,
  description:
    "compress uncompressed layers (docker save's) as gzip (default to a registry), zstd or none; others go as they are",
} as const satisfies OptionSpec;

/**
 * `--preserve-digests` (skopeo's name): manifests and configs byte for byte. Without it a layer
 * may be compressed, a Docker manifest written as OCI into a layout, Docker's config nulls
 * dropped: each changes the digest, and pd says so.
 */
export const PRESERVE_DIGESTS_OPTION = {
  type: 'boolean',
  description:
    'keep every manifest and config as it is (Docker-format ones too, in an OCI layout): digests survive round trips',
} as const satisfies OptionSpec;

export interface OutputValues {
  tag?: string | undefined;
  output?: string | undefined;
  format?: string | undefined;
  compression?: string | undefined;
  'preserve-digests'?: boolean | undefined;
}

export interface OutputResult {
  digest: string;
  size: number;
  mediaType: string;
  reference?: string;
  path?: string;
  format?: Format | 'oci-layout';
  /** The source's digest, when the one written or pushed differs. */
  sourceDigest?: string;
  /** Why it differs, for the note beside the result. */
  changed?: string;
}

/** The --format values a transport of -o agrees with. */
const TRANSPORT_FORMATS: Record<NonNullable<ImageDestination['transport']>, readonly Format[]> = {
  oci: ['oci'],
  'oci-archive': ['oci'],
  'docker-archive': ['docker', 'combined'],
};

/** The name an output transport gives the image: a RepoTag in a docker archive, a ref.name in a layout. */
function destinationName(dest: ImageDestination): string | undefined {
  if (dest.name === undefined) return undefined;
  return dest.transport === 'docker-archive' ? parseRef(dest.name).familiar() : dest.name;
}

function isArchivePath(path: string): boolean {
  return /\.tar$/i.test(path);
}

async function exists(path: string): Promise<'file' | 'directory' | undefined> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'file';
  } catch {
    return undefined;
  }
}

/** --compression and --preserve-digests agree with each other and with the output format. */
export function checkDigestOptions(values: OutputValues): void {
  if (!values['preserve-digests']) return;
  if (values.compression !== undefined && values.compression !== 'none') {
    throw new UsageError(
      `--preserve-digests cannot compress layers (--compression ${values.compression})`,
      'compressing a layer changes its digest and the manifest digest; drop one of them',
    );
  }
  const dest = values.output !== undefined ? parseImageDestination(values.output) : undefined;
  const classic =
    values.format === 'docker' || (dest?.transport === 'docker-archive' && values.format !== 'combined');
  if (classic) {
    throw new UsageError(
      '--preserve-digests needs an output that stores manifests',
      'a classic docker archive holds none; write --format oci, --format combined or an OCI layout',
    );
  }
}

/** Check -t / -o before any work is done: a missing destination is a usage error, not a late failure. */
export function checkOutput(
  values: OutputValues,
  options: { pushOnly?: boolean; fileOnly?: boolean } = {},
): void {
  if (values.tag === undefined && values.output === undefined) {
    throw new UsageError(
      options.fileOnly
        ? 'missing --output (-o) PATH'
        : 'say where the result goes: -t REF to push it, -o PATH to write it',
    );
  }
  if (values.tag !== undefined) parseRef(values.tag);
  if (values.format !== undefined && values.output === undefined) {
    throw new UsageError('--format applies to -o PATH');
  }
  const dest = values.output !== undefined ? parseImageDestination(values.output) : undefined;
  if (dest?.transport !== undefined) {
    if (values.format !== undefined && !TRANSPORT_FORMATS[dest.transport].includes(values.format as Format)) {
      throw new UsageError(
        `--format ${values.format} does not match ${dest.transport}:`,
        'the transport of -o says the format; drop --format',
      );
    }
    if (dest.name !== undefined) destinationName(dest);
  } else if (
    values.output !== undefined &&
    !isArchivePath(values.output) &&
    values.format !== undefined &&
    values.format !== 'oci'
  ) {
    throw new UsageError(
      `--format ${values.format} is an archive format; name the output NAME.tar`,
      'a directory output is always an OCI image layout',
    );
  }
}

/** Push to -t, or write to -o (naming the image by -t or `name`); the result for --json. */
export async function emit(
  ctx: Context,
  image: Image | ImageIndex,
  values: OutputValues,
  name?: Reference,
): Promise<OutputResult> {
  const onProgress = ctx.progress.listener;
  const signal = ctx.signal;
  const preserve = values['preserve-digests'] === true;
  const compression = values.compression as Compression | undefined;
  if (values.output === undefined) {
    const ref = parseRef(values.tag!);
    const algo = preserve ? 'none' : (compression ?? 'gzip');
    // Where blobs were pushed before, kept in the cache: a second repository of a registry gets
    // them mounted from the first instead of uploaded.
    const r = await push(image, ref, {
      client: await ctx.registry(),
      onProgress,
      signal,
      compression: algo,
      locations: BlobLocations.default(),
    });
    const result: OutputResult = {
      digest: r.digest,
      size: r.size,
      mediaType: r.mediaType,
      reference: r.ref.toString(),
    };
    if (r.sourceDigest === undefined) return result;
    const reasons = [`${r.compressedLayers} uncompressed layer(s) compressed as ${algo}`];
    if (
      image.kind === 'image' &&
      r.mediaType === MediaType.OciManifest &&
      hasNullFields(await image.config())
    ) {
      reasons.push("Docker's null config fields dropped, as OCI requires");
    }
    return { ...result, sourceDigest: r.sourceDigest, changed: reasons.join(', ') };
  }
  checkDigestOptions(values);
  // Files keep layers as they are unless --compression says otherwise (see COMPRESSION_OPTION).
  const toWrite =
    compression !== undefined && !preserve ? await compressAll(image, compression, { signal }) : image;
  const written = await emitFile(ctx, toWrite, values, preserve, name);
  return withChange(written, image, toWrite);
}

/**
 * `result` with the source's digest and the reason when what was written has another digest: a
 * Docker manifest written as OCI, Docker's null config fields dropped, layers compressed.
 */
async function withChange(
  result: OutputResult,
  source: Image | ImageIndex,
  compressed: Image | ImageIndex,
): Promise<OutputResult> {
  const sourceDigest = await source.digest();
  if (result.format === 'docker' || result.format === 'combined' || sourceDigest === result.digest) {
    return result;
  }
  const reasons: string[] = [];
  if (compressed !== source) reasons.push('uncompressed layers compressed');
  const type = await source.mediaType();
  if (type === MediaType.DockerManifest || type === MediaType.DockerManifestList) {
    reasons.push('Docker-format manifest written as OCI');
  } else if (compressed === source) {
    reasons.push("Docker's null config fields dropped, as OCI requires");
  }
  return { ...result, sourceDigest, changed: reasons.join(', ') };
}

async function emitFile(
  ctx: Context,
  image: Image | ImageIndex,
  values: OutputValues,
  preserve: boolean,
  name?: Reference,
): Promise<OutputResult> {
  const onProgress = ctx.progress.listener;
  const signal = ctx.signal;
  const manifests = preserve ? 'keep' : 'oci';
  const dest = parseImageDestination(values.output!);
  const path = dest.path;
  const ref = values.tag !== undefined ? parseRef(values.tag) : name;
  if (dest.transport !== undefined) {
    return emitTo(
      ctx,
      image,
      { ...dest, transport: dest.transport },
      ref,
      values.format as Format | undefined,
      manifests,
    );
  }
  if (!isArchivePath(path)) {
    if ((await exists(path)) === 'file') {
      throw new PdError(`${path} is a file`, {
        code: 'OUTPUT_EXISTS',
        hint: 'an OCI layout is a directory; give a directory, or NAME.tar for an archive',
      });
    }
    const d = await writeOciLayout(path, image, {
      ...(ref?.tag ? { tag: ref.tag, name: ref.toString() } : {}),
      manifests,
      onProgress,
      signal,
    });
    return { digest: d.digest, size: d.size, mediaType: d.mediaType, path, format: 'oci-layout' };
  }
  const format = (values.format ?? 'combined') as Format;
  if (format === 'oci') {
    const d = await writeOciArchive(path, image, {
      ...(ref?.tag ? { tag: ref.tag, name: ref.toString() } : {}),
      manifests,
      onProgress,
      signal,
    });
    return { digest: d.digest, size: d.size, mediaType: d.mediaType, path, format };
  }
  if (image.kind === 'index') {
    throw new UsageError(
      'a docker archive holds single-platform images',
      'pick one with --platform, or write all platforms with --format oci or to a directory',
    );
  }
  await writeDockerArchive(path, [{ image, tags: ref ? [ref.familiar()] : [] }], {
    layout: format === 'docker' ? 'classic' : 'combined',
    manifests,
    onProgress,
    signal,
  });
  const [digest, size, mediaType] = await Promise.all([image.digest(), image.size(), image.mediaType()]);
  return { digest, size, mediaType, path, format };
}

/** Write to `-o oci:DIR[:REF]`, `oci-archive:FILE[:REF]` or `docker-archive:FILE[:TAG]`. */
async function emitTo(
  ctx: Context,
  image: Image | ImageIndex,
  dest: ImageDestination & { transport: NonNullable<ImageDestination['transport']> },
  ref: Reference | undefined,
  format: Format | undefined,
  manifests: ManifestPolicy,
): Promise<OutputResult> {
  const { path } = dest;
  const onProgress = ctx.progress.listener;
  const signal = ctx.signal;
  // Named by the transport, else by -t / the source, as a plain -o names it.
  const named = destinationName(dest);
  if (dest.transport === 'docker-archive') {
    if (image.kind === 'index') {
      throw new UsageError(
        'a docker archive holds single-platform images',
        'pick one with --platform, or write all platforms to oci:DIR or oci-archive:FILE',
      );
    }
    const tag = named ?? ref?.familiar();
    const layout = format === 'combined' ? 'combined' : 'classic';
    await writeDockerArchive(path, [{ image, tags: tag ? [tag] : [] }], {
      layout,
      manifests,
      onProgress,
      signal,
    });
    const [digest, size, mediaType] = await Promise.all([image.digest(), image.size(), image.mediaType()]);
    return { digest, size, mediaType, path, format: layout === 'classic' ? 'docker' : 'combined' };
  }
  const tag = named ?? ref?.tag;
  // Named after the source, the entry also carries its full name, so that `app:1` and `db:1`
  // written into one layout both stay (see WriteOciOptions.name); a REF the user gave is final.
  const name = named === undefined && ref?.tag ? { name: ref.toString() } : {};
  const options = { ...(tag ? { tag } : {}), ...name, manifests, onProgress, signal };
  if (dest.transport === 'oci-archive') {
    const d = await writeOciArchive(path, image, options);
    return { digest: d.digest, size: d.size, mediaType: d.mediaType, path, format: 'oci' };
  }
  if ((await exists(path)) === 'file') {
    throw new PdError(`${path} is a file`, {
      code: 'OUTPUT_EXISTS',
      hint: 'oci:DIR is a layout directory; for an archive write oci-archive:FILE',
    });
  }
  const d = await writeOciLayout(path, image, options);
  return { digest: d.digest, size: d.size, mediaType: d.mediaType, path, format: 'oci-layout' };
}

/** Tell what was written or pushed, on stdout (the result): JSON with --json, else one line. */
export function report(ctx: Context, result: OutputResult): void {
  if (ctx.flags.json) {
    ctx.printJson(result);
    return;
  }
  if (result.reference) ctx.print(`pushed ${result.reference.replace(/@sha256:.*/, '')}@${result.digest}`);
  else ctx.print(`wrote ${result.path} (${result.format}, ${result.digest})`);
  if (result.sourceDigest !== undefined) {
    ctx.info(
      `note: the digest is not the source's ${result.sourceDigest} (${result.changed}); --preserve-digests keeps it`,
    );
  }
}

export { PLATFORM_OPTION };

/** An image from a file (docker archive, OCI archive or layout) or a reference, for one platform. */
export async function openInput(ctx: Context, input: string, platform?: string): Promise<Image> {
  const got = await openWhole(ctx, input);
  if (got.kind === 'index') return imageForPlatform(got, platform);
  return ensurePlatform(ctx, got, platform);
}

/**
 * Where `input` names an image in a registry whose layers are about to be downloaded: open their
 * connections while its manifest is on the way, as pd pull does (a round trip less per layer; a
 * TLS handshake less over HTTPS). Files and unparsable inputs are left to the opening to report.
 */
export async function preconnectLayers(ctx: Context, input: string): Promise<void> {
  const source = await parseImageSource(input).catch(() => undefined);
  if (source?.transport === 'docker') (await ctx.registry()).preconnect(source.ref);
}

/** A file or a reference as it is: an index stays whole. */
export async function openWhole(ctx: Context, input: string): Promise<Image | ImageIndex> {
  refuseUrl(input);
  // Opened whole first: a platform picked from an index matches by construction, while a
  // single-platform image must be checked against --platform.
  return openImage(input, { client: await ctx.registry(), signal: ctx.signal, platform: 'all' });
}

/** --platform and --keep-other-platforms of a command that changes one image or each image of an index. */
export const MANY_PLATFORMS_OPTIONS = {
  platform: PLATFORMS_OPTION,
  'keep-other-platforms': KEEP_OTHER_PLATFORMS_OPTION,
} as const;

/** The values of MANY_PLATFORMS_OPTIONS (and pull's and copy's --all-platforms, which is `--platform all`). */
export interface PlatformValues {
  platform?: string | undefined;
  'keep-other-platforms'?: boolean | undefined;
  'all-platforms'?: boolean | undefined;
}

/** What the platform options ask for, checked against each other. */
export function platformChoice(values: PlatformValues): PlatformChoice | undefined {
  if (values['all-platforms'] && values.platform !== undefined) {
    throw new UsageError('give --platform or --all-platforms, not both');
  }
  const choice = values['all-platforms']
    ? { many: 'all' as const }
    : values.platform !== undefined
      ? parsePlatformChoice(values.platform)
      : undefined;
  if (values['keep-other-platforms'] && !(choice && 'many' in choice && choice.many !== 'all')) {
    throw new UsageError(
      '--keep-other-platforms goes with a list --platform',
      'e.g. --platform linux/arm64,linux/arm/v7 --keep-other-platforms',
    );
  }
  return choice;
}

/** The children of an index a command works on: `mapIndex`'s selection. */
function selection(choice: { many: Platform[] | 'all' }, values: PlatformValues): MapIndexOptions {
  return { platforms: choice.many, keepOthers: values['keep-other-platforms'] === true };
}

/**
 * Open INPUT and apply `change` as the platform options say: to the one image --platform names
 * (this machine's of an index when none is given, and a note says so), or, for a list or `all`,
 * to each chosen child of an index, which gives an index (`mapIndex`). `change` gets the
 * platform the index lists the child under.
 */
export async function changeInput(
  ctx: Context,
  input: string,
  values: PlatformValues,
  change: (image: Image, platform: Platform | undefined) => Promise<Image>,
): Promise<Image | ImageIndex> {
  const choice = platformChoice(values);
  const got = await openWhole(ctx, input);
  if (got.kind === 'image') {
    if (choice && 'many' in choice && choice.many !== 'all') {
      throw new UsageError(
        `${input} is a single-platform image: --platform ${values.platform} needs a multi-platform index`,
        'drop --platform, or give the one platform the image has',
      );
    }
    const one = choice && 'one' in choice ? values.platform : undefined;
    return change(await ensurePlatform(ctx, got, one), undefined);
  }
  if (choice && 'many' in choice) {
    return mapIndex(got, (image, d) => change(image, d.platform), selection(choice, values));
  }
  const image = await imageForPlatform(got, choice?.one);
  if (!choice) {
    const picked = await imagePlatform(image);
    ctx.info(
      `note: ${input} is a multi-platform index; using its ${picked ? formatPlatform(picked) : 'unnamed'} image (--platform all changes every platform)`,
    );
  }
  return change(image, undefined);
}

/**
 * The image of `got` (an index or one image) for `platform`: the index's child, or the image
 * itself checked against it. For the second input of a change (rebase's bases), per child.
 */
export async function imageFor(
  ctx: Context,
  got: Image | ImageIndex,
  platform: Platform | undefined,
): Promise<Image> {
  const text = platform && formatPlatform(platform);
  if (got.kind === 'index') return imageForPlatform(got, platform);
  return ensurePlatform(ctx, got, text);
}

/**
 * A registry reference, written plain or as `docker://REF`: never read as a file even when such
 * a path exists (pull). A bad reference gets the hint on how to write one.
 */
export async function registryRef(input: string): Promise<Reference> {
  if (!input.startsWith('docker://')) return parseRef(input);
  const source = await parseImageSource(input);
  return (source as Extract<ImageSource, { transport: 'docker' }>).ref;
}

/** A reference only (pull): never read as a file even when such a path exists. */
export async function openRemote(
  ctx: Context,
  input: string,
  platform: string | 'all' | undefined,
  keepOthers = false,
): Promise<Image | ImageIndex> {
  const ref = await registryRef(input);
  const opts = { client: await ctx.registry(), signal: ctx.signal };
  const got = await remote.get(ref, opts);
  return forPlatform(ctx, got, platform, keepOthers);
}

/**
 * An index stays whole for `all`, keeps the children a list names (and with keepOthers the rest
 * too); otherwise one image, checked against --platform.
 */
async function forPlatform(
  ctx: Context,
  got: Image | ImageIndex,
  platform: string | 'all' | undefined,
  keepOthers = false,
): Promise<Image | ImageIndex> {
  if (platform === 'all') return got;
  const choice = platform === undefined ? undefined : parsePlatformChoice(platform);
  if (choice && 'many' in choice) {
    if (got.kind === 'image') {
      throw new UsageError(
        `a single-platform image: --platform ${platform} needs a multi-platform index`,
        'drop --platform, or give the one platform the image has',
      );
    }
    return mapIndex(got, async (image) => image, selection(choice, { 'keep-other-platforms': keepOthers }));
  }
  if (got.kind === 'index') return imageForPlatform(got, platform);
  return ensurePlatform(ctx, got, platform);
}

/**
 * Any image source in transport syntax (a file, `oci:DIR:REF`, `docker-archive:FILE:@N`,
 * `docker://REF`, a reference): 'all' keeps an index whole, a list the children it names,
 * otherwise one image is picked (this machine's platform when none is given). `cache: false`
 * reads a registry source past the blob cache (a copy to another registry keeps nothing).
 */
export async function openAny(
  ctx: Context,
  input: string | ImageSource,
  platform: string | 'all' | undefined,
  keepOthers = false,
  remoteOptions: { cache?: false } = {},
): Promise<Image | ImageIndex> {
  const source = typeof input === 'string' ? await parseImageSource(input) : input;
  const got =
    source.transport === 'docker'
      ? await remote.get(source.ref, { client: await ctx.registry(), signal: ctx.signal, ...remoteOptions })
      : await openSource(source, { signal: ctx.signal });
  return forPlatform(ctx, got, platform, keepOthers);
}

/**
 * A file (docker archive, OCI archive or layout, with a selector as `x.tar:@1` or
 * `oci:DIR:REF` say) as it is: an index stays an index unless a platform is asked.
 */
export async function openLocal(
  ctx: Context,
  path: string,
  platform?: string,
  keepOthers = false,
): Promise<Image | ImageIndex> {
  const source = await parseImageSource(path);
  if (source.transport === 'docker') {
    if (path.startsWith('docker://')) {
      throw new UsageError(`${path} is in a registry`, 'to copy from a registry to another use pd copy');
    }
    throw new NoSuchImageFileError(path);
  }
  const got = await openSource(source, { signal: ctx.signal });
  return got.kind === 'index' && platform === undefined ? got : forPlatform(ctx, got, platform, keepOthers);
}
