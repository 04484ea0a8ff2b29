import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
import { ARTIFACT_OPTIONS, annotationsOf, parseFileArg } from './artifact-push.js';
import { parseRef } from './shared.js';

export const attachCommand = defineCommand({
  name: 'attach',
  usage: 'SUBJECT FILE[:MEDIATYPE]... --artifact-type TYPE [--annotation K=V]...',
  description:
    'Pushes an OCI 1.1 artifact manifest whose subject is the manifest SUBJECT names (a tag or a\n' +
    'digest; for a multi-platform image, the index itself), into the same repository, by digest.\n' +
    'pd referrers SUBJECT lists it. On a registry with the referrers API the registry indexes it; on\n' +
    'others (distribution 2.8, ...) pd adds it to the referrers tag schema index sha256-<hex>, merging\n' +
    'with concurrent writers: it re-reads the index after writing and adds itself again when a\n' +
    'concurrent writer replaced it. Files are as for pd artifact push.',
  args: [{ name: 'SUBJECT' }, { name: 'FILE', variadic: true, complete: 'file' }],
  options: {
    ...ARTIFACT_OPTIONS,
    'artifact-type': {
      type: 'string',
      value: 'TYPE',
      description: "the artifact's type, a media type (required), e.g. application/spdx+json",
    },
  },
  json:
    '{ "digest": "sha256:…", "mediaType": "…", "size": 123, "artifactType": "…",\n' +
    '  "subject": { "digest", "mediaType", "size" }, "referrers": "api" | "tag" }',
  examples: [
    {
      note: 'attach an SPDX SBOM to an image',
      command: 'pd attach localhost:5000/app:1 app.spdx.json --artifact-type application/spdx+json',
    },
    {
      note: 'a signature, annotated',
      command:
        'pd attach ghcr.io/org/app@sha256:1a2b… app.sig --artifact-type application/vnd.example.signature --annotation created-by=ci',
    },
  ],
  async run(ctx, { args, values, rest }) {
    const artifactType = values['artifact-type'];
    if (!artifactType) {
      throw new UsageError('pd attach needs --artifact-type', 'e.g. --artifact-type application/spdx+json');
    }
    const { attach } = await import('@pd/image');
    const pushed = await attach(parseRef(args.SUBJECT!), {
      artifactType,
      files: rest.map(parseFileArg),
      annotations: annotationsOf(values.annotation),
      client: await ctx.registry(),
      signal: ctx.signal,
    });
    const subject = pushed.manifest.subject!;
    if (ctx.flags.json) {
      ctx.printJson({ ...pushed.descriptor, subject, referrers: pushed.referrers });
    } else {
      const ref = parseRef(args.SUBJECT!);
      ctx.print(
        `attached ${ref.registry}/${ref.repository}@${pushed.descriptor.digest} to ${subject.digest}`,
      );
    }
    return 0;
  },
});
