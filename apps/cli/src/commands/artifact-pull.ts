import { defineCommand } from '../command.js';
import { parseRef } from './shared.js';

export const artifactPull = defineCommand({
  name: 'artifact pull',
  usage: 'REF [-o DIR]',
  description:
    'Each layer with an org.opencontainers.image.title annotation is written to DIR/<title>, checked\n' +
    'against its digest (a file appears only once its bytes are verified). A title that is not a plain\n' +
    'file name (a "/", "..", an absolute path) refuses the whole artifact before anything is written.\n' +
    'Layers without a title are skipped, as ORAS does. Works for artifacts pushed by pd, oras or helm.',
  args: [{ name: 'REF' }],
  options: {
    output: {
      type: 'string',
      short: 'o',
      value: 'DIR',
      complete: 'dir',
      description: 'directory to write the files to (default: the current one; created when missing)',
    },
  },
  json:
    '{ "digest": "sha256:…", "artifactType": "…",\n' +
    '  "files": [{ "title", "path", "digest", "size", "mediaType" }] }',
  examples: [
    { note: 'fetch the files of an artifact', command: 'pd artifact pull localhost:5000/dist:1.0 -o ./dist' },
    {
      note: 'a referrer found with pd referrers',
      command: 'pd artifact pull ghcr.io/org/app@sha256:1a2b… -o sbom/',
    },
  ],
  async run(ctx, { args, values }) {
    const { pullArtifact } = await import('@pd/image');
    const pulled = await pullArtifact(parseRef(args.REF!), values.output ?? '.', {
      client: await ctx.registry(),
      signal: ctx.signal,
    });
    if (ctx.flags.json) ctx.printJson(pulled);
    else for (const f of pulled.files) ctx.print(f.path);
    return 0;
  },
});
