import type { ArtifactFile } from '@pd/image';
import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
import { parseKeyValue, parseRef } from './shared.js';

/** What ORAS records when no --artifact-type is given. */
export const DEFAULT_ARTIFACT_TYPE = 'application/vnd.unknown.artifact.v1';

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i;

/** `FILE[:MEDIATYPE]`: the part after the last colon is a media type only when it looks like one. */
export function parseFileArg(arg: string): ArtifactFile {
  const colon = arg.lastIndexOf(':');
  if (colon > 0 && MEDIA_TYPE.test(arg.slice(colon + 1))) {
    return { path: arg.slice(0, colon), mediaType: arg.slice(colon + 1) };
  }
  if (arg === '') throw new UsageError('an empty FILE argument');
  return { path: arg };
}

/** `--annotation K=V` values as a record. */
export function annotationsOf(values: readonly string[] | undefined): Record<string, string> {
  return Object.fromEntries((values ?? []).map((a) => parseKeyValue('--annotation', a)));
}

export const ARTIFACT_OPTIONS = {
  'artifact-type': {
    type: 'string',
    value: 'TYPE',
    description: `the artifact's type, a media type (default ${DEFAULT_ARTIFACT_TYPE}, as ORAS)`,
  },
  annotation: {
    type: 'string',
    multiple: true,
    value: 'K=V',
    description: 'set a manifest annotation',
  },
} as const;

export const artifactPush = defineCommand({
  name: 'artifact push',
  usage: 'REF FILE[:MEDIATYPE]... [--artifact-type TYPE] [--annotation K=V]...',
  description:
    'Each FILE becomes one layer, named by its base name in the org.opencontainers.image.title\n' +
    'annotation, of media type MEDIATYPE (default application/vnd.oci.image.layer.v1.tar, as ORAS). The\n' +
    'manifest is an OCI 1.1 image manifest with artifactType and the empty config ({}). Files are\n' +
    'streamed from disk, never held in memory, and sent only when the repository lacks them.\n' +
    'oras pull, skopeo copy and pd artifact pull read what it pushes.',
  args: [{ name: 'REF' }, { name: 'FILE', variadic: true, complete: 'file' }],
  options: ARTIFACT_OPTIONS,
  json:
    '{ "reference": "127.0.0.1:5000/docs:1", "digest": "sha256:…", "size": 123, "mediaType": "…",\n' +
    '  "artifactType": "…", "layers": [{ "title", "digest", "size", "mediaType" }], "uploaded": 1 }',
  examples: [
    {
      note: 'a tarball and its README as one artifact',
      command: 'pd artifact push localhost:5000/dist:1.0 app.tar.gz:application/gzip README.md:text/markdown',
    },
    {
      note: 'with a type and an annotation',
      command:
        'pd artifact push ghcr.io/org/policy:v2 policy.rego --artifact-type application/vnd.example.policy --annotation org.opencontainers.image.source=https://example.com',
    },
  ],
  async run(ctx, { args, values, rest }) {
    const { pushArtifact, TITLE_ANNOTATION } = await import('@pd/image');
    const ref = parseRef(args.REF!);
    const files = rest.map(parseFileArg);
    const pushed = await pushArtifact(ref, {
      artifactType: values['artifact-type'] ?? DEFAULT_ARTIFACT_TYPE,
      files,
      annotations: annotationsOf(values.annotation),
      client: await ctx.registry(),
      signal: ctx.signal,
    });
    const reference = ref.toString();
    if (ctx.flags.json) {
      ctx.printJson({
        reference,
        ...pushed.descriptor,
        layers: pushed.manifest.layers.map((l) => ({
          title: l.annotations?.[TITLE_ANNOTATION],
          digest: l.digest,
          size: l.size,
          mediaType: l.mediaType,
        })),
        uploaded: pushed.uploaded,
      });
    } else {
      ctx.print(`pushed ${reference}@${pushed.descriptor.digest}`);
    }
    return 0;
  },
});
