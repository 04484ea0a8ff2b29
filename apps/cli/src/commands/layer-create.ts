import { basename } from 'node:path';
import type { Compression } from '@pd/oci-types';
import { tarDirectory, writeLayerFile } from '@pd/tar';
import { defineCommand } from '../command.js';
import { UsageError } from '../output/errors.js';
import { formatBytes } from '../output/format.js';

export const layerCreate = defineCommand({
  name: 'layer create',
  usage: 'DIR -o FILE [--prefix /dest] [--compression gzip|zstd|none]',
  description:
    'The tar is deterministic: entries sorted, owners root:root, every mtime SOURCE_DATE_EPOCH (else 0),\n' +
    'hardlinks kept. The same DIR gives the same digest on any machine. Prints the layer’s size, digest\n' +
    '(of FILE) and diffID (of the uncompressed tar); --json adds the media type.',
  args: [{ name: 'DIR', complete: 'dir' }],
  options: {
    output: {
      type: 'string',
      short: 'o',
      value: 'FILE',
      complete: 'file',
      description: 'the layer file to write',
    },
    prefix: {
      type: 'string',
      value: '/DEST',
      description: 'place the content of DIR under this path in the layer',
    },
    compression: {
      type: 'string',
      value: 'ALGO',
      choices: ['gzip', 'zstd', 'none'],
      description: 'compression of FILE (default gzip)',
    },
    level: {
      type: 'string',
      value: 'N',
      description: 'compression level (gzip 1-9, default 6; zstd 1-19, default 3)',
    },
  },
  json:
    '{ "digest": "sha256:…", "diffId": "sha256:…", "size": 1234, "uncompressedSize": 10240,\n' +
    '  "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip" }',
  examples: [
    {
      note: 'an app directory placed at /app',
      command: 'pd layer create ./dist --prefix /app -o app.tar.gz',
    },
    {
      note: 'reproducible across machines',
      command: 'SOURCE_DATE_EPOCH=1700000000 pd layer create ./rootfs --compression zstd -o rootfs.tar.zst',
    },
  ],
  async run(ctx, { args, values }) {
    const out = values.output;
    if (out === undefined) throw new UsageError('missing --output (-o) FILE');
    let level: number | undefined;
    if (values.level !== undefined) {
      level = Number(values.level);
      if (!Number.isInteger(level)) throw new UsageError('--level must be a whole number');
    }
    const label = basename(out);
    const tar = tarDirectory(args.DIR!, {
      ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
      signal: ctx.signal,
      onProgress: (e) => ctx.progress.update({ id: 'layer', label, phase: 'archive', done: e.done }),
    });
    const info = await writeLayerFile(tar, out, {
      compression: (values.compression ?? 'gzip') as Compression,
      ...(level !== undefined ? { level } : {}),
      signal: ctx.signal,
    });
    ctx.progress.finishTask('layer');
    const result = {
      digest: info.digest,
      diffId: info.diffId,
      size: info.size,
      uncompressedSize: info.uncompressedSize,
      mediaType: info.mediaType,
    };
    if (ctx.flags.json) ctx.printJson(result);
    else ctx.print(`wrote ${out} (${formatBytes(info.size)}, ${info.digest}, diffID ${info.diffId})`);
    return 0;
  },
});
