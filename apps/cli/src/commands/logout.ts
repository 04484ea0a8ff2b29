import { defineCommand } from '../command.js';
import { parseRegistry } from './registry-arg.js';

export const logout = defineCommand({
  name: 'logout',
  usage: 'REGISTRY',
  args: [{ name: 'REGISTRY' }],
  options: {},
  json: '{ "registry": "ghcr.io", "removed": true }',
  examples: [{ note: 'forget the credentials of ghcr.io', command: 'pd logout ghcr.io' }],
  async run(ctx, { args }) {
    const registry = parseRegistry(args.REGISTRY!);
    const removed = await (await ctx.registry()).logout(registry, { signal: ctx.signal });
    if (ctx.flags.json) ctx.printJson({ registry, removed });
    else
      ctx.print(removed ? `removed the credentials of ${registry}` : `no credentials stored for ${registry}`);
    return 0;
  },
});
