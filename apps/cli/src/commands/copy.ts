import { type Image, type ImageIndex, parseImageDestination, parseImageSource } from '@pd/image';
import { type Reference, UnsupportedMediaTypeError } from '@pd/oci-types';
import { defineCommand } from '../command.js';
import type { Context } from '../context.js';
import { UsageError } from '../output/errors.js';
import {
  COMPRESSION_OPTION,
  checkDigestOptions,
  emit,
  MANY_PLATFORMS_OPTIONS,
  type OutputResult,
  openAny,
  PRESERVE_DIGESTS_OPTION,
  platformChoice,
  registryRef,
  report,
} from './image-io.js';
import { reportWithReferrers, withReferrers } from './referrers-copy.js';
import { parseRepo } from './shared.js';

/** The tags under which registries without the referrers API list referrers (`sha256-<hex>`). */
const REFERRERS_TAG = /^sha(256|512)-[0-9a-f]{64,128}$/;

/**
 * Registry to registry, blobs stream from one to the other without a copy in the blob cache: as
 * skopeo, a mirror job does not fill the disk with what it moves, and not writing the cache file
 * saved a fifth of the CPU of a 154 MiB copy between two registries (bench/results/2026-12-05-copy.md).
 */
const PAST_CACHE = { cache: false } as const;

/** An artifact (or anything else pd's images refuse for its config media type). */
function isRefusedArtifact(e: unknown): boolean {
  return e instanceof UnsupportedMediaTypeError;
}

/**
 * Copy the manifest exactly (artifacts, the referrers tag-schema index): pd's image model refuses
 * what is not an image, and these must keep their bytes anyway.
 */
async function copyRaw(ctx: Context, src: Reference, dst: Reference): Promise<OutputResult> {
  const { copyManifest } = await import('@pd/image');
  const d = await copyManifest(src, dst, { client: await ctx.registry(), signal: ctx.signal });
  return { digest: d.digest, size: d.size, mediaType: d.mediaType, reference: dst.toString() };
}

/**
 * Find the destination registry's endpoint (GET /v2/) while the source is read: one round trip
 * less before the first blob moves. Within one registry the source's manifest GET starts that
 * ping and goes out beside it, which a ping started here would hold back until it answered. A
 * failed ping is not kept: the push pings again and reports it. Across registries the blobs come
 * down from the source: their connections open meanwhile too (a copy from a registry 40 ms away:
 * 916 -> 885 and 868 -> 815 ms, medians of two sets of 9 alternating runs); within one registry
 * the blobs are mounted and none is downloaded.
 */
async function pingEarly(ctx: Context, src: Reference | undefined, dst: Reference): Promise<void> {
  if (src?.registry === dst.registry) return;
  const client = await ctx.registry();
  void client.ping(dst.registry, { signal: ctx.signal }).catch(() => undefined);
  if (src) client.preconnect(src);
}

/** Registry to registry, one reference: the image (or artifact), then its referrers when asked. */
async function copyOne(
  ctx: Context,
  src: Reference,
  dst: Reference,
  platform: string | undefined,
  keepOthers: boolean | undefined,
  digests: { compression: string | undefined; 'preserve-digests': boolean | undefined },
  referrers: boolean,
): Promise<OutputResult & { referrers?: unknown[] }> {
  let image: Image | ImageIndex | undefined;
  let result: OutputResult;
  await pingEarly(ctx, src, dst);
  try {
    image = await openAny(ctx, { transport: 'docker', ref: src }, platform, keepOthers, PAST_CACHE);
  } catch (e) {
    if (!isRefusedArtifact(e)) throw e;
  }
  if (image) result = await emit(ctx, image, { tag: dst.toString(), ...digests });
  else result = await copyRaw(ctx, src, dst);
  if (!referrers) return result;
  // The subject at the source: the image copied, or for an index (maybe narrowed to some platforms) the one named.
  const srcDigest =
    image && image.kind === 'image'
      ? await image.digest()
      : ((await (await ctx.registry()).headManifest(src, { signal: ctx.signal }))?.digest ?? result.digest);
  const repo = (r: Reference) => ({ registry: r.registry, repository: r.repository });
  return { ...result, referrers: await withReferrers(ctx, repo(src), repo(dst), srcDigest, result) };
}

export const copy = defineCommand({
  name: 'copy',
  usage:
    'SRC_REF DST_REF [--all-platforms | --platform LIST] [--referrers] [--all-tags] [--compression ALGO | --preserve-digests]',
  description:
    'Blobs go straight from source to destination (nothing is unpacked); within one registry they are\n' +
    'mounted instead of copied. A multi-platform source is copied as the image for this machine unless\n' +
    '--all-platforms keeps the whole index (same digest at the destination). As with skopeo, SRC_REF may\n' +
    'also be docker://REF or a file (docker-archive:FILE[:TAG|:@N], oci:DIR[:REF], oci-archive:FILE[:REF],\n' +
    'a plain PATH[:TAG|:@N]), and DST_REF one of those file transports.\n' +
    'Registry to registry, every digest is kept. Uncompressed layers (a docker archive source) are\n' +
    'gzipped for a registry, as skopeo does, and kept as they are in files unless --compression is\n' +
    'given; a Docker-format image written to oci: or oci-archive: becomes OCI unless\n' +
    '--preserve-digests. pd notes the source digest whenever the written one differs.\n' +
    '--referrers also copies what refers to the image (pd referrers: SBOMs, signatures), and what\n' +
    'refers to those; their bytes and digests stay unless the image’s digest changed in the copy, when\n' +
    'their subject is rewritten. --all-tags copies every tag of the repository SRC_REF to DST_REF\n' +
    '(whole indexes unless --platform; artifacts and referrers tag-schema indexes byte for byte).',
  args: [{ name: 'SRC_REF' }, { name: 'DST_REF' }],
  options: {
    'all-platforms': {
      type: 'boolean',
      description: 'copy every platform of an index, keeping its digest: --platform all',
    },
    ...MANY_PLATFORMS_OPTIONS,
    compression: COMPRESSION_OPTION,
    'preserve-digests': PRESERVE_DIGESTS_OPTION,
    referrers: {
      type: 'boolean',
      description:
        'also copy what refers to the image (SBOMs, signatures: pd referrers), recursively; registry to registry',
    },
    'all-tags': {
      type: 'boolean',
      description: 'SRC_REF and DST_REF are repositories: copy every tag (whole indexes unless --platform)',
    },
  },
  json:
    '{ "digest": "sha256:…", "size": 1234, "mediaType": "…",\n' +
    '  "reference": "127.0.0.1:5000/app:1"  (to a registry)  |  "path": "app.tar", "format": "oci"  (to a file) }',
  examples: [
    {
      note: 'mirror a multi-platform image',
      command: 'pd copy --all-platforms docker.io/library/alpine:3.20 localhost:5000/alpine:3.20',
    },
    {
      note: 'an image with its SBOMs and signatures',
      command: 'pd copy --referrers registry.example.com/app:1 mirror.example.com/app:1',
    },
    {
      note: 'every tag of a repository',
      command: 'pd copy --all-tags registry.example.com/app mirror.example.com/app',
    },
    {
      note: 'promote a build',
      command: 'pd copy registry.example.com/app:sha-1a2b3c registry.example.com/app:prod',
    },
  ],
  async run(ctx, { args, values }) {
    platformChoice(values);
    const digests = { compression: values.compression, 'preserve-digests': values['preserve-digests'] };
    const platformArg = values['all-platforms'] ? 'all' : values.platform;
    if (values['all-tags']) {
      checkDigestOptions(digests);
      const from = parseRepo(args.SRC_REF!.replace(/^docker:\/\//, ''));
      const to = parseRepo(args.DST_REF!.replace(/^docker:\/\//, ''));
      const client = await ctx.registry();
      const tags = await client.listTags(from, { signal: ctx.signal });
      const results: (OutputResult & { tag: string })[] = [];
      // Images first, then referrers-tag indexes: a plain copy keeps digests, so these stay right.
      const ordered = [
        ...tags.filter((t) => !REFERRERS_TAG.test(t)),
        ...tags.filter((t) => REFERRERS_TAG.test(t)),
      ];
      for (const tag of ordered) {
        const src = from.withTag(tag);
        const dst = to.withTag(tag);
        const result = REFERRERS_TAG.test(tag)
          ? await copyRaw(ctx, src, dst)
          : await copyOne(
              ctx,
              src,
              dst,
              platformArg ?? 'all',
              values['keep-other-platforms'],
              digests,
              values.referrers === true,
            );
        if (ctx.flags.json) results.push({ tag, ...result });
        else reportWithReferrers(ctx, result);
      }
      if (ctx.flags.json) ctx.printJson(results);
      return 0;
    }
    if (values.referrers) {
      const source = await parseImageSource(args.SRC_REF!);
      if (source.transport !== 'docker' || parseImageDestination(args.DST_REF!).transport !== undefined) {
        throw new UsageError('--referrers copies from a registry to a registry', 'give two references');
      }
      const dst = await registryRef(args.DST_REF!);
      checkDigestOptions(digests);
      reportWithReferrers(
        ctx,
        await copyOne(ctx, source.ref, dst, platformArg, values['keep-other-platforms'], digests, true),
      );
      return 0;
    }
    // A file transport as DST_REF writes there (skopeo's `copy ... oci:DIR:REF`); else it is a reference.
    const file = parseImageDestination(args.DST_REF!).transport !== undefined;
    const dst = file ? undefined : await registryRef(args.DST_REF!);
    checkDigestOptions(file ? { ...digests, output: args.DST_REF! } : digests);
    const source = await parseImageSource(args.SRC_REF!);
    if (dst) await pingEarly(ctx, source.transport === 'docker' ? source.ref : undefined, dst);
    const image = await openAny(
      ctx,
      source,
      platformArg,
      values['keep-other-platforms'],
      dst ? PAST_CACHE : {},
    );
    const to = dst ? { tag: dst.toString() } : { output: args.DST_REF! };
    report(ctx, await emit(ctx, image, { ...to, ...digests }));
    return 0;
  },
});
