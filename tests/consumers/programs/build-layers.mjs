// A user's program: builds one image with gzip layers and one with zstd layers from a pd.yaml
// spec (@pd/build), writes both as OCI layouts (@pd/image) and reads the zstd layer back
// (@pd/tar). Bundled into one file by the tests (CommonJS and ES module output) and run where no
// node_modules exists; prints what it made as JSON.
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage, parseSpec } from '@pd/build';
import { writeOciLayout } from '@pd/image';
import { readEntries, tarContents, writeLayerFile } from '@pd/tar';

async function main(out) {
  const spec = parseSpec(`
files:
  - path: /etc/app.conf
    content: "${'port = 8080 '.repeat(40_000)}"
config:
  env: { MODE: prod }
`);
  const result = {};
  for (const compression of ['gzip', 'zstd']) {
    const image = await buildImage(spec, { baseDir: out, compression });
    await writeOciLayout(join(out, compression), image, { tag: 'latest' });
    const manifest = await image.manifest();
    result[compression] = {
      digest: await image.digest(),
      layers: manifest.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest })),
      diffIds: (await image.config()).rootfs.diff_ids,
    };
  }
  // @pd/tar alone: a zstd layer file, read back entry by entry.
  const dir = await mkdtemp(join(out, 'tar-'));
  const info = await writeLayerFile(tarContents({ '/hello': 'hello\n' }), join(dir, 'l.zst'), {
    compression: 'zstd',
  });
  const names = [];
  for await (const { header, body } of readEntries(await readFile(join(dir, 'l.zst')))) {
    names.push(header.name);
    body.resume();
  }
  result.tar = { mediaType: info.mediaType, names };
  console.log(JSON.stringify(result));
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
