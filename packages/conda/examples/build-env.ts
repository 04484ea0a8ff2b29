import { buildCondaImage } from '@pd/conda';
import { scratch, writeDockerArchive } from '@pd/image';

// Any channel: a name (conda-forge, via the channel alias), an https URL, or a local path / file:// URL.
const channel = process.env.CONDA_CHANNEL ?? 'conda-forge';

const image = await buildCondaImage(
  scratch({ platform: 'linux/amd64' }),
  { specs: ['hello >=2'], channels: [channel] },
  { layering: 'layered', prefix: '/opt/conda', onLog: (warning) => console.warn(warning) },
);

// Dependencies first, one layer each, then a small layer with conda-meta/history.
console.log(image.conda.packages.map((p) => `${p.name}=${p.version}`).join(' ')); // sh=1.0 hello=2.0
console.log(`${(await image.layers()).length} layers`); // 3 layers
console.log((await image.config()).config?.Env?.[0]); // PATH=/opt/conda/bin:/usr/local/sbin:...

await writeDockerArchive(process.env.OUT ?? 'hello-env.tar', [{ image, tags: ['hello-env:latest'] }]);
