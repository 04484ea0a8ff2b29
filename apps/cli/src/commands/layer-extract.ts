import { extract } from '@pd/tar';
import { defineCommand } from '../command.js';
import { formatBytes } from '../output/format.js';
import { readInput } from './input.js';
import { intoDirectory } from './shared.js';

/** Why an entry was left out, in the CLI's words where the library's name its options. */
function skipReason(type: string, reason: string): string {
  if (type === 'fifo') return 'a fifo (--devices creates it)';
  if (type === 'character-device' || type === 'block-device') {
    return `a device node (--devices creates it${isRoot() ? '' : ', as root'})`;
  }
  return reason;
}

const isRoot = () => process.getuid?.() === 0;

export const layerExtract = defineCommand({
  name: 'layer extract',
  usage: 'FILE DIR [--skip-unsafe] [--whiteouts apply|keep|skip] [--same-owner] [--xattrs] [--devices]',
  description:
    'FILE may be gzip, zstd or plain tar (detected), or - for stdin. Nothing is ever written outside DIR:\n' +
    'entries that try (../ names, symlinks leading out, hardlinks to outside files) stop the extraction,\n' +
    'or are left out with --skip-unsafe. Whiteouts delete what DIR already holds, as a layer on top would.\n' +
    'Device nodes and fifos are left out (a device node from a layer could open the host’s disks to\n' +
    'whoever can read DIR) unless --devices asks for them.',
  args: [
    { name: 'FILE', complete: 'file' },
    { name: 'DIR', complete: 'dir' },
  ],
  options: {
    'skip-unsafe': {
      type: 'boolean',
      description: 'leave unsafe entries out (listed on stderr) instead of failing',
    },
    whiteouts: {
      type: 'string',
      value: 'MODE',
      choices: ['apply', 'keep', 'skip'],
      description: 'apply whiteouts (default), keep them as files, or skip them',
    },
    'same-owner': { type: 'boolean', description: 'apply the owners in the archive (root only)' },
    xattrs: {
      type: 'boolean',
      description: 'write extended attributes, with setfattr (as root all, else user.* ones)',
    },
    devices: { type: 'boolean', description: 'create the device nodes (root only) and fifos in the layer' },
  },
  json: '{ "entries": 42, "bytes": 123456, "skipped": 0, "xattrsSkipped": 0 }',
  examples: [
    { note: 'unpack a layer', command: 'pd layer extract layer.tar.gz ./rootfs' },
    {
      note: 'from a registry, through a pipe',
      command: 'pd blob localhost:5000/app@sha256:… | pd layer extract - ./rootfs',
    },
  ],
  async run(ctx, { args, values }) {
    const input = await readInput(ctx, args.FILE!, 'extract');
    const stats = await intoDirectory(args.DIR!, () =>
      extract(input, args.DIR!, {
        onUnsafe: values['skip-unsafe'] ? 'skip' : 'throw',
        whiteouts: (values.whiteouts ?? 'apply') as 'apply' | 'keep' | 'skip',
        chown: values['same-owner'] === true,
        xattrs: values.xattrs === true,
        devices: values.devices === true,
        signal: ctx.signal,
        onSkip: (header, reason) => ctx.warn(`skipped ${header.name}: ${skipReason(header.type, reason)}`),
      }),
    );
    if (ctx.flags.json) ctx.printJson(stats);
    else {
      ctx.print(
        `extracted ${stats.entries} entries (${formatBytes(stats.bytes)}) into ${args.DIR}${stats.skipped ? `, skipped ${stats.skipped}` : ''}`,
      );
    }
    return 0;
  },
});
