import { type EntryType, readEntries, type TarHeader } from '@pd/tar';
import { defineCommand } from '../command.js';
import { readInput } from './input.js';

const TYPE_CHAR: Record<EntryType, string> = {
  file: '-',
  link: 'h',
  symlink: 'l',
  'character-device': 'c',
  'block-device': 'b',
  directory: 'd',
  fifo: 'p',
  unknown: '?',
};

/** `drwxr-xr-x`, with setuid/setgid/sticky as ls shows them. */
export function modeString(type: EntryType, mode: number): string {
  const bit = (m: number, c: string) => (mode & m ? c : '-');
  const special = (exec: number, flag: number, on: string, off: string) =>
    mode & flag ? (mode & exec ? on : off) : bit(exec, 'x');
  return (
    TYPE_CHAR[type] +
    bit(0o400, 'r') +
    bit(0o200, 'w') +
    special(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') +
    bit(0o020, 'w') +
    special(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') +
    bit(0o002, 'w') +
    special(0o001, 0o1000, 't', 'T')
  );
}

function time(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? '?' : d.toISOString().slice(0, 16).replace('T', ' ');
}

/** One line like GNU `tar -tv` (times in UTC). */
export function listLine(h: TarHeader): string {
  const owner = `${h.uname || h.uid}/${h.gname || h.gid}`;
  const size =
    h.type === 'character-device' || h.type === 'block-device'
      ? `${h.devmajor},${h.devminor}`
      : String(h.size);
  const link = h.type === 'symlink' ? ` -> ${h.linkname}` : h.type === 'link' ? ` link to ${h.linkname}` : '';
  return `${modeString(h.type, h.mode)} ${owner} ${size.padStart(9)} ${time(h.mtime)} ${h.name}${link}`;
}

export const layerLs = defineCommand({
  name: 'layer ls',
  usage: 'FILE',
  description: 'FILE may be gzip, zstd or plain tar (detected), or - for stdin. Times are UTC.',
  args: [{ name: 'FILE', complete: 'file' }],
  options: {},
  json:
    '[{ "name": "etc/app.conf", "type": "file", "mode": "0644", "uid": 0, "gid": 0, "uname": "", "gname": "",\n' +
    '   "size": 12, "mtime": "2024-01-01T00:00:00.000Z", "linkname": "" }, …]\n' +
    '  type: file | directory | symlink | link | character-device | block-device | fifo | unknown',
  examples: [
    { note: 'what a layer holds', command: 'pd layer ls layer.tar.gz' },
    {
      note: 'whiteouts of a layer',
      command: 'pd layer ls --json layer.tar.gz | jq -r ".[].name" | grep /.wh.',
    },
  ],
  async run(ctx, { args }) {
    const input = await readInput(ctx, args.FILE!, 'read');
    const all: object[] = [];
    for await (const { header: h } of readEntries(input)) {
      if (ctx.flags.json) {
        all.push({
          name: h.name,
          type: h.type,
          mode: `0${(h.mode & 0o7777).toString(8).padStart(3, '0')}`,
          uid: h.uid,
          gid: h.gid,
          uname: h.uname,
          gname: h.gname,
          size: h.size,
          mtime: new Date(h.mtime * 1000).toISOString(),
          linkname: h.linkname,
        });
      } else {
        ctx.print(listLine(h));
      }
    }
    if (ctx.flags.json) ctx.printJson(all);
    return 0;
  },
});
