import { defineCommand } from '../command.js';
import { parseRegistry } from './registry-arg.js';

export const catalog = defineCommand({
  name: 'catalog',
  usage: 'REGISTRY',
  description:
    'Uses the registry’s catalog API (/v2/_catalog). Public registries such as Docker Hub and ghcr.io\n' +
    'do not offer it to ordinary users; self-hosted registries usually do.',
  args: [{ name: 'REGISTRY' }],
  options: {},
  json: '["app", "tools/builder"]',
  examples: [{ note: 'repositories of a local registry', command: 'pd catalog localhost:5000' }],
  async run(ctx, { args }) {
    const list = await (await ctx.registry()).catalog(parseRegistry(args.REGISTRY!), { signal: ctx.signal });
    if (ctx.flags.json) ctx.printJson(list);
    else for (const r of list) ctx.print(r);
    return 0;
  },
});
