import type { Descriptor } from '@pd/oci-types';
import { defineCommand } from '../command.js';
import { formatBytes } from '../output/format.js';
import { parseRef } from './shared.js';

/** The referrers for a person: the subject, then a row per referrer (full digests, to copy). */
export function referrersTable(subject: string, source: string, manifests: readonly Descriptor[]): string[] {
  const via = source === 'api' ? 'referrers API' : 'referrers tag schema';
  const lines = [`${subject}  ${manifests.length} referrers (${via})`];
  if (manifests.length === 0) return lines;
  const rows = manifests.map((m) => [
    m.digest,
    formatBytes(m.size),
    m.artifactType ?? m.mediaType,
    Object.entries(m.annotations ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
  ]);
  const header = ['DIGEST', 'SIZE', 'ARTIFACT TYPE', 'ANNOTATIONS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  lines.push(line(header), ...rows.map(line));
  return lines;
}

export const referrersCommand = defineCommand({
  name: 'referrers',
  usage: 'SUBJECT [--artifact-type TYPE]',
  description:
    'Lists the manifests whose subject is the manifest SUBJECT names, from the registry’s referrers API\n' +
    'where it has one, else from the referrers tag schema index (tag sha256-<hex>) that pd attach,\n' +
    'oras and cosign maintain. On a terminal a table; with --json or into a pipe the JSON.',
  args: [{ name: 'SUBJECT' }],
  options: {
    'artifact-type': {
      type: 'string',
      value: 'TYPE',
      description: 'only referrers of this artifact type',
    },
  },
  json:
    '{ "subject": "sha256:…", "source": "api" | "tag",\n' +
    '  "manifests": [{ "mediaType", "digest", "size", "artifactType"?, "annotations"? }] }',
  examples: [
    { note: 'everything attached to an image', command: 'pd referrers localhost:5000/app:1' },
    {
      note: 'the digests of its SPDX SBOMs',
      command:
        'pd referrers ghcr.io/org/app:1 --artifact-type application/spdx+json | jq -r ".manifests[].digest"',
    },
  ],
  async run(ctx, { args, values }) {
    const { listReferrers } = await import('@pd/image');
    const list = await listReferrers(parseRef(args.SUBJECT!), {
      artifactType: values['artifact-type'],
      client: await ctx.registry(),
      signal: ctx.signal,
    });
    const out = { subject: list.subject, source: list.source, manifests: list.manifests };
    if (ctx.flags.json || ctx.io.stdout.isTTY !== true) ctx.printJson(out);
    else for (const l of referrersTable(list.subject, list.source, list.manifests)) ctx.print(l);
    return 0;
  },
});
