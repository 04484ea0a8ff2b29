import { PdError } from '@pd/oci-types';
import { RegistryError } from '@pd/registry';
import { defineCommand } from '../command.js';
import { parseRef } from './shared.js';

export const deleteCommand = defineCommand({
  name: 'delete',
  usage: 'REF',
  description:
    'Deleting by digest removes the manifest and every tag that points at it. Most registries refuse to\n' +
    'delete by tag; pd then tells the digest to use. The registry must allow deletes (distribution:\n' +
    'storage.delete.enabled); space is reclaimed by its garbage collector.',
  args: [{ name: 'REF' }],
  options: {},
  json: '{ "deleted": "127.0.0.1:5000/app@sha256:…" }',
  examples: [
    { note: 'delete by digest', command: 'pd delete localhost:5000/app@sha256:…' },
    {
      note: 'delete what a tag points at',
      command: 'pd delete "localhost:5000/app@$(pd digest localhost:5000/app:old)"',
    },
  ],
  async run(ctx, { args }) {
    const ref = parseRef(args.REF!, { defaultTag: false });
    const client = await ctx.registry();
    try {
      await client.deleteManifest(ref, { signal: ctx.signal });
    } catch (e) {
      if (e instanceof RegistryError && e.code === 'UNSUPPORTED' && !ref.digest && ref.tag) {
        // Say which digest the tag names, so the retry is one copy-paste away.
        const head = await client.headManifest(ref, { signal: ctx.signal }).catch(() => undefined);
        if (head) {
          throw new PdError(`${ref.registry} does not delete by tag`, {
            code: e.code,
            hint: `pd delete ${ref.repo().familiar()}@${head.digest} deletes the manifest ${ref.familiar()} points at, with every tag on it`,
            cause: e,
          });
        }
      }
      throw e;
    }
    if (ctx.flags.json) ctx.printJson({ deleted: ref.toString() });
    else ctx.print(`deleted ${ref.familiar()}`);
    return 0;
  },
});
