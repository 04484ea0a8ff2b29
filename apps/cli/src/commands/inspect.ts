import { type Image, type ImageIndex, type ImageSource, parseImageSource } from '@pd/image';
import {
  formatPlatform,
  type ImageManifest,
  isConfigMediaType,
  isImageManifestMediaType,
  isIndexMediaType,
  MediaType,
  type OciImageManifest,
  type Platform,
  parseManifest,
  UnsupportedMediaTypeError,
} from '@pd/oci-types';
import { defineCommand } from '../command.js';
import type { Context } from '../context.js';
import { formatBytes, shortDigest } from '../output/format.js';
import { openAny, PLATFORM_OPTION } from './image-io.js';

interface Described {
  digest: string;
  mediaType: string;
  size: number;
}

/**
 * A manifest whose config is not an image config (a Helm chart, an SBOM, a signature: anything
 * oras and friends push): what it is and what it holds, nothing of a container.
 */
function describeArtifact(at: Described, manifest: ImageManifest): Record<string, unknown> {
  // Docker schema 2 has none of the OCI artifact fields; reading them as optional covers both.
  const oci = manifest as Partial<OciImageManifest>;
  return {
    ...at,
    artifactType: oci.artifactType ?? manifest.config.mediaType,
    config: {
      mediaType: manifest.config.mediaType,
      digest: manifest.config.digest,
      size: manifest.config.size,
    },
    layers: manifest.layers.map((l) => ({
      digest: l.digest,
      size: l.size,
      mediaType: l.mediaType,
      ...(l.annotations ? { annotations: l.annotations } : {}),
    })),
    ...(oci.subject ? { subject: oci.subject.digest } : {}),
    annotations: oci.annotations ?? {},
  };
}

async function describeImage(image: Image): Promise<Record<string, unknown>> {
  const manifest = await image.manifest();
  if (!isConfigMediaType(manifest.config.mediaType)) {
    const [digest, mediaType, size] = await Promise.all([image.digest(), image.mediaType(), image.size()]);
    return describeArtifact({ digest, mediaType, size }, manifest);
  }
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

/** What describeIndex gives, as the table reads it. */
interface IndexDescription extends Described {
  manifests: (Described & {
    platform: string | null;
    artifactType?: string;
    annotations?: Record<string, string>;
  })[];
  annotations?: Record<string, string>;
}

/** An index for a person: what it is, then a row per entry (full digests, to copy into a command). */
export function indexTable(index: IndexDescription): string[] {
  const kind = MEDIA_NAMES[index.mediaType] ?? index.mediaType;
  const lines = [`${index.digest}  ${kind}, ${index.manifests.length} entries, ${formatBytes(index.size)}`];
  for (const [k, v] of Object.entries(index.annotations ?? {})) lines.push(`  ${k}=${v}`);
  const rows = index.manifests.map((m) => {
    const attests = m.annotations?.['vnd.docker.reference.digest'];
    const what = attests
      ? `attestation of ${shortDigest(attests)}`
      : (MEDIA_NAMES[m.mediaType] ?? m.artifactType ?? m.mediaType);
    return [m.platform ?? '-', m.digest, formatBytes(m.size), what];
  });
  const header = ['PLATFORM', 'DIGEST', 'SIZE', 'TYPE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  lines.push(line(header), ...rows.map(line));
  return lines;
}

const MEDIA_NAMES: Record<string, string> = {
  [MediaType.OciIndex]: 'OCI image index',
  [MediaType.DockerManifestList]: 'Docker manifest list',
  [MediaType.OciManifest]: 'OCI manifest',
  [MediaType.DockerManifest]: 'Docker manifest',
};

async function describeIndex(index: ImageIndex): Promise<IndexDescription> {
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
      ...(m.artifactType ? { artifactType: m.artifactType } : {}),
      ...(m.annotations ? { annotations: m.annotations } : {}),
    })),
    ...('annotations' in doc && doc.annotations ? { annotations: doc.annotations } : {}),
  };
}

/** The image or index; an artifact in a registry (which pd's images refuse) as its bare manifest. */
async function open(
  ctx: Context,
  source: ImageSource,
  platform: string | undefined,
): Promise<Image | ImageIndex | { artifact: Record<string, unknown> }> {
  try {
    return await openAny(ctx, source, platform ?? 'all');
  } catch (e) {
    // remote images refuse a config that is not an image config; the manifest alone describes it.
    const refused =
      e instanceof UnsupportedMediaTypeError &&
      !isImageManifestMediaType(e.mediaType) &&
      !isIndexMediaType(e.mediaType);
    if (source.transport !== 'docker' || !refused) throw e;
    const got = await (await ctx.registry()).getManifest(source.ref, { signal: ctx.signal });
    const parsed = parseManifest(got.bytes, got.mediaType);
    if (parsed.kind !== 'manifest') throw e;
    const at = { digest: got.digest, mediaType: got.mediaType, size: got.size };
    return { artifact: describeArtifact(at, parsed.manifest) };
  }
}

export const inspect = defineCommand({
  name: 'inspect',
  usage: 'IMAGE [--platform OS/ARCH]',
  description:
    'IMAGE is a reference (or docker://REF), a file or layout (oci:DIR[:REF], oci-archive:FILE[:REF],\n' +
    'docker-archive:FILE[:TAG|:@N], or a plain PATH, PATH:TAG, PATH:@N). Reads only the manifest and the\n' +
    'config (no layer is downloaded). A multi-platform index is listed with its platforms unless\n' +
    '--platform picks one image. An artifact (a manifest whose config is not an image config, e.g. a Helm\n' +
    'chart) is shown as its artifact type, config descriptor and layers. The output is JSON, with or\n' +
    'without --json; only an index shown on a terminal is a table (platform, digest, size of each entry),\n' +
    'and --json (or a pipe) gives its JSON.',
  args: [{ name: 'IMAGE' }],
  options: { platform: PLATFORM_OPTION },
  json:
    'image: { "digest", "mediaType", "size", "platform": "linux/amd64", "created",\n' +
    '         "config": { "digest", "user", "env": [], "entrypoint", "cmd", "workingDir", "labels": {},\n' +
    '                     "exposedPorts": [], "volumes": [], "stopSignal" },\n' +
    '         "layers": [{ "digest", "diffId", "size", "mediaType" }],\n' +
    '         "history": [{ "created", "createdBy", "emptyLayer" }] }\n' +
    'index: { "digest", "mediaType", "size", "manifests": [{ "digest", "mediaType", "size", "platform",\n' +
    '                                                      "artifactType"?, "annotations"? }], "annotations"? }\n' +
    'artifact: { "digest", "mediaType", "size", "artifactType", "config": { "mediaType", "digest", "size" },\n' +
    '            "layers": [{ "digest", "size", "mediaType", "annotations"? }], "subject"?, "annotations": {} }',
  examples: [
    { note: 'the env of an image', command: 'pd inspect localhost:5000/app:1 | jq .config.env' },
    {
      note: 'the platforms of a multi-platform image',
      command: 'pd inspect ubuntu:24.04 | jq -r ".manifests[].platform"',
    },
    { note: 'the second image of a docker save archive', command: 'pd inspect docker-archive:app.tar:@1' },
    { note: 'one entry of an OCI layout', command: 'pd inspect oci:./layout:v1.2' },
    { note: 'a Helm chart pushed as an OCI artifact', command: 'pd inspect ghcr.io/org/charts/app:1.0.0' },
  ],
  async run(ctx, { args, values }) {
    const target = await open(ctx, await parseImageSource(args.IMAGE!), values.platform);
    if ('artifact' in target) ctx.printJson(target.artifact);
    else if (target.kind === 'image') ctx.printJson(await describeImage(target));
    else {
      const described = await describeIndex(target);
      // A person at a terminal reads a table; a pipe or --json gets the JSON it always got.
      if (ctx.flags.json || ctx.io.stdout.isTTY !== true) ctx.printJson(described);
      else for (const line of indexTable(described)) ctx.print(line);
    }
    return 0;
  },
});
