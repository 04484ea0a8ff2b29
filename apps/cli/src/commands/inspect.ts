import { stat } from 'node:fs/promises';
import type { Image, ImageIndex } from '@pd/image';
import { formatPlatform, type Platform } from '@pd/oci-types';
import { defineCommand } from '../command.js';
import type { Context } from '../context.js';
import { openLocal, openRemote, PLATFORM_OPTION } from './image-io.js';

async function isPath(input: string): Promise<boolean> {
  try {
    await stat(input);
    return true;
  } catch {
    return false;
  }
}

async function describeImage(image: Image): Promise<Record<string, unknown>> {
  const [digest, mediaType, size, config, configDigest, layers] = await Promise.all([
    image.digest(),
    image.mediaType(),
    image.size(),
    image.config(),
    image.configDigest(),
    image.layers(),
  ]);
  const c = config.config ?? {};
  const platform: Platform = {
    os: config.os,
    architecture: config.architecture,
    ...(config.variant ? { variant: config.variant } : {}),
  };
  return {
    digest,
    mediaType,
    size,
    platform: formatPlatform(platform),
    created: config.created ?? null,
    config: {
      digest: configDigest,
      user: c.User ?? '',
      env: c.Env ?? [],
      entrypoint: c.Entrypoint ?? null,
      cmd: c.Cmd ?? null,
      workingDir: c.WorkingDir ?? '',
      labels: c.Labels ?? {},
      exposedPorts: Object.keys(c.ExposedPorts ?? {}),
      volumes: Object.keys(c.Volumes ?? {}),
      stopSignal: c.StopSignal ?? null,
    },
    layers: await Promise.all(
      layers.map(async (l) => {
        const [d, diffId, s, mt] = await Promise.all([l.digest(), l.diffId(), l.size(), l.mediaType()]);
        return { digest: d, diffId, size: s, mediaType: mt };
      }),
    ),
    history: (config.history ?? []).map((h) => ({
      created: h.created ?? null,
      createdBy: h.created_by ?? '',
      emptyLayer: h.empty_layer === true,
    })),
  };
}

async function describeIndex(index: ImageIndex): Promise<Record<string, unknown>> {
  const [digest, mediaType, size, doc] = await Promise.all([
    index.digest(),
    index.mediaType(),
    index.size(),
    index.manifest(),
  ]);
  return {
    digest,
    mediaType,
    size,
    manifests: doc.manifests.map((m) => ({
      digest: m.digest,
      mediaType: m.mediaType,
      size: m.size,
      platform: m.platform ? formatPlatform(m.platform) : null,
    })),
  };
}

async function open(ctx: Context, input: string, platform: string | undefined): Promise<Image | ImageIndex> {
  if (await isPath(input)) return openLocal(ctx, input, platform);
  return openRemote(ctx, input, platform ?? 'all');
}

export const inspect = defineCommand({
  name: 'inspect',
  summary: 'describe an image or index: digests, platform, config, layers (JSON)',
  usage: '(REF | PATH) [--platform OS/ARCH]',
  description:
    'Reads only the manifest and the config (no layer is downloaded). A multi-platform index is listed\n' +
    'with its platforms unless --platform picks one image. The output is JSON, with or without --json.',
  args: [{ name: 'IMAGE' }],
  options: { platform: PLATFORM_OPTION },
  json:
    'image: { "digest", "mediaType", "size", "platform": "linux/amd64", "created",\n' +
    '         "config": { "digest", "user", "env": [], "entrypoint", "cmd", "workingDir", "labels": {},\n' +
    '                     "exposedPorts": [], "volumes": [], "stopSignal" },\n' +
    '         "layers": [{ "digest", "diffId", "size", "mediaType" }],\n' +
    '         "history": [{ "created", "createdBy", "emptyLayer" }] }\n' +
    'index: { "digest", "mediaType", "size", "manifests": [{ "digest", "mediaType", "size", "platform" }] }',
  examples: [
    { note: 'the env of an image', command: 'pd inspect localhost:5000/app:1 | jq .config.env' },
    {
      note: 'the platforms of a multi-platform image',
      command: 'pd inspect ubuntu:24.04 | jq -r ".manifests[].platform"',
    },
    { note: 'an image file', command: 'pd inspect app.tar' },
  ],
  async run(ctx, { args, values }) {
    const target = await open(ctx, args.IMAGE!, values.platform);
    ctx.printJson(target.kind === 'index' ? await describeIndex(target) : await describeImage(target));
    return 0;
  },
});
