import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, loadSpec, specReference } from '@pd/build';
import { writeDockerArchive } from '@pd/image';

// A pd.yaml and the app it packs, written here so the example needs nothing but the package.
const dir = await mkdtemp(join(tmpdir(), 'pd-build-example-'));
await mkdir(join(dir, 'app'));
await writeFile(join(dir, 'app', 'hello.sh'), '#!/bin/sh\necho "$GREETING from pd"\n', { mode: 0o755 });
await writeFile(join(dir, 'app', 'NOTES.md'), 'left out by the exclude below\n');
await writeFile(
  join(dir, 'pd.yaml'),
  `base: scratch            # or an image: busybox:1.36, localhost:5000/base:1, oci:./layout
platform: linux/amd64
name: pd-examples/hello
tag: latest
layers:
  - { src: app, dest: /app, exclude: ["*.md"] }
files:
  - { path: /etc/pd-example/name, content: "pd-examples/hello\\n", mode: "0644" }
config:
  env: { GREETING: hello }
  entrypoint: [/app/hello.sh]
`,
);

// Relative paths in the spec are read from the directory of the pd.yaml.
const spec = await loadSpec(join(dir, 'pd.yaml'));
const image = await buildImage(spec, { baseDir: dir });

console.log(specReference(spec)); // pd-examples/hello:latest
console.log(`${(await image.layers()).length} layers`); // 2 layers
console.log((await image.config()).config?.Entrypoint?.join(' ')); // /app/hello.sh

await writeDockerArchive(process.env.OUT ?? join(dir, 'hello.tar'), [
  { image, tags: [specReference(spec) ?? 'pd-build'] },
]);
