import { buildImage, loadSpec, specReference } from '@pd/build';
import { writeDockerArchive } from '@pd/image';

// The repository's examples/pd.yaml: scratch, a layer from examples/app, one inline file, config.
const file = process.env.PD_YAML ?? 'examples/pd.yaml';
const spec = await loadSpec(file);
const image = await buildImage(spec, { baseDir: file.replace(/\/[^/]*$/, '') });

console.log(specReference(spec)); // pd-examples/hello:latest
console.log(`${(await image.layers()).length} layers`); // 2 layers
console.log((await image.config()).config?.Entrypoint?.join(' ')); // /app/hello.sh

await writeDockerArchive(process.env.OUT ?? 'hello.tar', [
  { image, tags: [specReference(spec) ?? 'pd-build'] },
]);
