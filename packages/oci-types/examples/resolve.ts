import {
  descriptorOf,
  MediaType,
  parseManifest,
  parsePlatform,
  parseReference,
  selectPlatform,
  toOciIndex,
  ValidationError,
} from '@pd/oci-types';

// References are normalized the way docker does it.
const ref = parseReference('ubuntu:24.04');
console.log(ref.toString()); // docker.io/library/ubuntu:24.04

// The bytes and Content-Type a registry answered with (here: a small manifest list).
const amd64 = descriptorOf('{"schemaVersion":2}', MediaType.DockerManifest, {
  platform: { os: 'linux', architecture: 'amd64' },
});
const arm64 = descriptorOf('{"schemaVersion":2,"arm":1}', MediaType.DockerManifest, {
  platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
});
const body = JSON.stringify({
  schemaVersion: 2,
  mediaType: MediaType.DockerManifestList,
  manifests: [amd64, arm64],
});

const parsed = parseManifest(body, 'application/vnd.docker.distribution.manifest.list.v2+json');
if (parsed.kind === 'index') {
  // "aarch64" normalizes to arm64/v8 and matches the arm64 entry.
  const chosen = selectPlatform(parsed.index, parsePlatform('linux/aarch64'));
  console.log(ref.withDigest(chosen.digest).familiar()); // ubuntu:24.04@sha256:…
  console.log(toOciIndex(parsed.index).manifests[0]?.mediaType); // application/vnd.oci.image.manifest.v1+json
}

// Bad documents say where and what.
try {
  parseManifest('{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"abc","size":-1},"layers":[]}');
} catch (e) {
  if (e instanceof ValidationError) console.log(e.message);
  // invalid image manifest: $.config.digest: expected a digest like sha256:<64 hex>, got "abc" (...)
}
