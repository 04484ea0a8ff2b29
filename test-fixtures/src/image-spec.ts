import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The OCI image-spec source as Debian ships it (golang-github-opencontainers-image-spec-dev):
 * the official JSON schemas and the spec's own Go test tables under `schema/`, the spec text
 * beside it. PD_TEST_IMAGE_SPEC points elsewhere (a checkout of opencontainers/image-spec).
 */
export const IMAGE_SPEC_DIR =
  process.env.PD_TEST_IMAGE_SPEC ?? '/usr/share/gocode/src/github.com/opencontainers/image-spec';

export const IMAGE_SPEC_SCHEMA_DIR = join(IMAGE_SPEC_DIR, 'schema');

/** Why tests that read the image-spec are skipped, or undefined when it is there. Use with describe.skipIf. */
export function imageSpecMissing(): string | undefined {
  if (existsSync(join(IMAGE_SPEC_SCHEMA_DIR, 'image-manifest-schema.json'))) return undefined;
  const reason = `skipped: OCI image-spec schemas not found in ${IMAGE_SPEC_SCHEMA_DIR} (apt-get install golang-github-opencontainers-image-spec-dev; .ci/run installs it)`;
  process.stderr.write(`[pd tests] ${reason}\n`);
  return reason;
}
