import { defineCommand } from '../command.js';
import { parseRepo } from './shared.js';

export const tags = defineCommand({
  name: 'tags',
  usage: 'REPO',
  args: [{ name: 'REPO' }],
  options: {},
  json: '["1.0", "1.1", "latest"]',
  examples: [
    { note: 'tags of a repository on a local registry', command: 'pd tags localhost:5000/app' },
    { note: 'as JSON, for jq', command: 'pd tags --json ghcr.io/org/app | jq -r ".[]"' },
  ],
  async run(ctx, { args }) {
    const repo = parseRepo(args.REPO!);
    const list = await (await ctx.registry()).listTags(repo, { signal: ctx.signal });
    if (ctx.flags.json) ctx.printJson(list);
    else for (const t of list) ctx.print(t);
    return 0;
  },
});
