import { defineCommand } from '../command.js';
import { VERSION } from '../version.js';

export const version = defineCommand({
  name: 'version',
  usage: '',
  args: [],
  options: {},
  json: '{ "version": "0.1.0", "node": "v20.20.0", "platform": "linux/amd64" }',
  examples: [{ note: 'the version', command: 'pd version' }],
  async run(ctx) {
    if (ctx.flags.json) {
      // Loaded here: the plain `pd version` (and `pd --help`) load none of the packages (5 ms).
      const { formatPlatform, hostPlatform } = await import('@pd/oci-types');
      ctx.printJson({ version: VERSION, node: process.version, platform: formatPlatform(hostPlatform()) });
    } else {
      ctx.print(`pd ${VERSION}`);
    }
    return 0;
  },
});
