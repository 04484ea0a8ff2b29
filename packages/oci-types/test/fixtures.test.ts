// Real documents captured from Docker, the CNCF registry, skopeo, umoci and runc (see
// fixtures/README.md and capture.sh). Digests change with each capture, so the assertions check
// how the documents relate to each other, which is what the tools guarantee.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  convertMediaType,
  type DockerManifest,
  type DockerManifestList,
  digestHex,
  digestOf,
  type ImageConfig,
  isDockerManifest,
  layerHistoryCount,
  MediaType,
  type OciImageIndex,
  type OciImageManifest,
  PlatformNotFoundError,
  parseManifest,
  parsePlatform,
  parseReference,
  selectPlatform,
  toOciIndex,
  toOciManifest,
  UnsupportedMediaTypeError,
  ValidationError,
  validateDockerArchiveManifest,
  validateDockerManifest,
  validateDockerManifestList,
  validateDockerRepositories,
  validateImageConfig,
  validateImageManifest,
  validateOciIndex,
  validateOciLayout,
  validateOciLayoutIndex,
  validateOciManifest,
  validateRuntimeSpec,
} from '../src/index.js';

const bytes = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const json = (name: string): unknown => JSON.parse(bytes(name).toString('utf8'));
const contentTypes = json('content-types.json') as Record<string, string>;

describe('Docker engine push: schema 2 manifest and config', () => {
  const raw = bytes('docker-manifest.json');
  const configBytes = bytes('docker-config.json');

  test('parseManifest with the Content-Type the registry sent', () => {
    const parsed = parseManifest(raw, contentTypes['docker-manifest.json']);
    expect(parsed.kind).toBe('manifest');
    expect(parsed.mediaType).toBe(MediaType.DockerManifest);
    if (parsed.kind !== 'manifest') return;
    expect(isDockerManifest(parsed.manifest)).toBe(true);
    expect(validateDockerManifest(json('docker-manifest.json'))).toEqual(parsed.manifest);
  });

  test('the config is the blob the manifest points to, and agrees with it', () => {
    const m = validateDockerManifest(json('docker-manifest.json'));
    const config = validateImageConfig(json('docker-config.json'));
    expect(m.config.mediaType).toBe(MediaType.DockerConfig);
    expect(m.config.digest).toBe(digestOf(configBytes));
    expect(m.config.size).toBe(configBytes.length);
    expect(m.layers.every((l) => l.mediaType === MediaType.DockerLayerGzip)).toBe(true);
    expect(config.rootfs.diff_ids).toHaveLength(m.layers.length);
    expect(layerHistoryCount(config)).toBe(m.layers.length);
  });

  test('every Dockerfile instruction landed in the validated config, Docker extras kept', () => {
    const c = validateImageConfig(json('docker-config.json'));
    expect(c).toMatchObject({ architecture: 'amd64', os: 'linux' });
    const cc = c.config!;
    expect(cc.User).toBe('1000:1000');
    expect(Object.keys(cc.ExposedPorts ?? {}).sort()).toEqual(['53/udp', '8080/tcp']);
    expect(cc.Env).toContain('APP_HOME=/app');
    expect(cc.Entrypoint).toEqual(['/bin/busybox']);
    expect(cc.Cmd).toEqual(['cat', '/app/hello.txt']);
    expect(Object.keys(cc.Volumes ?? {})).toEqual(['/data']);
    expect(cc.WorkingDir).toBe('/app');
    expect(cc.Labels).toMatchObject({ 'org.opencontainers.image.title': 'pd fixture' });
    expect(cc.StopSignal).toBe('SIGTERM');
    expect(cc.Healthcheck).toMatchObject({
      Test: ['CMD', '/bin/busybox', 'true'],
      Interval: 30e9,
      Retries: 3,
    });
    expect(cc.OnBuild).toEqual(['RUN echo built on top']);
    expect(cc.Shell).toEqual(['/bin/sh', '-c']);
    expect(c.container_config?.Cmd?.join(' ')).toContain('#(nop)');
    expect(c.docker_version).toMatch(/^\d+\.\d+/);
    expect(c.history?.some((h) => h.empty_layer === true)).toBe(true);
    expect(c.history?.[0]?.comment).toBe('Imported from -');
  });
});

describe('skopeo --format oci: OCI manifest and config', () => {
  test('same layers as the Docker image, OCI media types', () => {
    const parsed = parseManifest(bytes('oci-manifest.json'), contentTypes['oci-manifest.json']);
    expect(parsed).toMatchObject({ kind: 'manifest', mediaType: MediaType.OciManifest });
    const oci = validateOciManifest(json('oci-manifest.json'));
    const docker = validateDockerManifest(json('docker-manifest.json'));
    expect(oci.layers.map((l) => l.digest)).toEqual(docker.layers.map((l) => l.digest));
    expect(oci.layers.map((l) => l.mediaType)).toEqual(
      docker.layers.map((l) => convertMediaType(l.mediaType, 'oci')),
    );
    // Our conversion agrees with skopeo's on everything but the rewritten config blob.
    const converted = toOciManifest(docker);
    expect({ ...converted, config: undefined }).toEqual({ ...oci, config: undefined });
    expect(converted.config.mediaType).toBe(oci.config.mediaType);
  });

  test('its config is the blob it points to; diff IDs are unchanged', () => {
    const oci = validateOciManifest(json('oci-manifest.json'));
    const configBytes = bytes('oci-config.json');
    expect(oci.config.digest).toBe(digestOf(configBytes));
    expect(oci.config.size).toBe(configBytes.length);
    const ociConfig = validateImageConfig(json('oci-config.json'));
    const dockerConfig = validateImageConfig(json('docker-config.json'));
    expect(ociConfig.rootfs.diff_ids).toEqual(dockerConfig.rootfs.diff_ids);
    expect(ociConfig.config?.Entrypoint).toEqual(dockerConfig.config?.Entrypoint);
    expect(ociConfig.container_config).toBeUndefined();
  });
});

describe('docker manifest create/push: manifest list', () => {
  const list = () => validateDockerManifestList(json('docker-manifest-list.json'));

  test('parses as a Docker index pointing at the pushed manifest', () => {
    const parsed = parseManifest(
      bytes('docker-manifest-list.json'),
      contentTypes['docker-manifest-list.json'],
    );
    expect(parsed).toMatchObject({ kind: 'index', mediaType: MediaType.DockerManifestList });
    const amd64 = selectPlatform(list(), parsePlatform('linux/amd64'));
    const raw = bytes('docker-manifest.json');
    expect(amd64.digest).toBe(digestOf(raw));
    expect(amd64.size).toBe(raw.length);
  });

  test('platform selection over the real list', () => {
    const l: DockerManifestList = list();
    const arm64 = selectPlatform(l, parsePlatform('linux/arm64'));
    expect(arm64.platform).toEqual({ architecture: 'arm64', os: 'linux', variant: 'v8' });
    expect(selectPlatform(l, parsePlatform('linux/aarch64'))).toBe(arm64);
    expect(selectPlatform(l, parsePlatform('linux/amd64/v2')).platform?.architecture).toBe('amd64');
    const err = (() => {
      try {
        selectPlatform(l, parsePlatform('linux/arm/v7'));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PlatformNotFoundError);
    expect((err as PlatformNotFoundError).available.sort()).toEqual(['linux/amd64', 'linux/arm64/v8']);
  });

  test('converts to the OCI index skopeo made, entry for entry', () => {
    const ours = toOciIndex(list());
    const skopeos: OciImageIndex = validateOciIndex(json('oci-index.json'));
    expect(ours.manifests.map((m) => [m.mediaType, m.platform])).toEqual(
      skopeos.manifests.map((m) => [m.mediaType, m.platform]),
    );
  });
});

describe('skopeo copy --all --format oci: OCI index', () => {
  test('parses, and its amd64 entry is the OCI manifest skopeo pushed', () => {
    const parsed = parseManifest(bytes('oci-index.json'), contentTypes['oci-index.json']);
    expect(parsed).toMatchObject({ kind: 'index', mediaType: MediaType.OciIndex });
    if (parsed.kind !== 'index') return;
    const amd64 = selectPlatform(parsed.index, parsePlatform('linux/amd64'));
    expect(amd64.digest).toBe(digestOf(bytes('oci-manifest.json')));
  });
});

describe('Content-Type from the registry', () => {
  test.each(Object.entries(contentTypes))('%s is served as %s and parses as that', (file, ct) => {
    expect(parseManifest(bytes(file), ct).mediaType).toBe(ct);
  });

  test('a document served with another document type is refused', () => {
    const e = (() => {
      try {
        parseManifest(bytes('oci-index.json'), contentTypes['docker-manifest-list.json']);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as ValidationError).path).toBe('$.mediaType');
  });
});

describe('schema 1 served by the registry', () => {
  const raw = bytes('schema1-manifest.json');
  const ct = bytes('schema1-content-type.txt').toString('utf8').trim();

  test.each([
    ['with its content type', ct],
    ['without a content type', undefined],
  ])('is refused %s, with a hint to re-push', (_name, contentType) => {
    const e = (() => {
      try {
        parseManifest(raw, contentType);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(UnsupportedMediaTypeError);
    expect((e as UnsupportedMediaTypeError).hint).toMatch(/re-push/);
  });

  test('and does not pass as a schema 2 manifest', () => {
    expect(() => validateImageManifest(json('schema1-manifest.json'))).toThrow(
      'invalid image manifest: $.schemaVersion: expected 2, got 1',
    );
  });
});

describe('OCI image layouts', () => {
  test('skopeo: oci-layout and index.json naming the converted manifest', () => {
    expect(validateOciLayout(json('skopeo-layout/oci-layout'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = validateOciLayoutIndex(json('skopeo-layout/index.json'));
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name']).toBe('v1');
    expect(index.manifests[0]?.digest).toBe(digestOf(bytes('oci-manifest.json')));
  });

  test('umoci: an empty image (no layers, no history), found by shape', () => {
    validateOciLayout(json('umoci-layout/oci-layout'));
    const index = validateOciLayoutIndex(json('umoci-layout/index.json'));
    const manifestBytes = bytes('umoci-layout/manifest.json');
    expect(index.manifests[0]?.digest).toBe(digestOf(manifestBytes));
    const parsed = parseManifest(manifestBytes);
    expect(parsed).toMatchObject({ kind: 'manifest', mediaType: MediaType.OciManifest });
    const m = parsed.kind === 'manifest' ? (parsed.manifest as OciImageManifest) : undefined;
    expect(m?.mediaType).toBeUndefined();
    expect(m?.layers).toEqual([]);
    const config: ImageConfig = validateImageConfig(json('umoci-layout/config.json'));
    expect(m?.config.digest).toBe(digestOf(bytes('umoci-layout/config.json')));
    expect(config.rootfs.diff_ids).toEqual([]);
    expect(config.history).toBeUndefined();
  });

  test('a layout index.json must be an OCI index', () => {
    expect(() => validateOciLayoutIndex(json('docker-manifest-list.json'))).toThrow(
      '$.mediaType: expected "application/vnd.oci.image.index.v1+json"',
    );
  });
});

describe('docker save: manifest.json and repositories', () => {
  test('name the config by its digest and one layer tar per diff ID', () => {
    const [entry, ...rest] = validateDockerArchiveManifest(json('docker-save/manifest.json'));
    expect(rest).toHaveLength(0);
    const docker: DockerManifest = validateDockerManifest(json('docker-manifest.json'));
    expect(entry?.Config).toBe(`${digestHex(docker.config.digest)}.json`);
    const config = validateImageConfig(json('docker-config.json'));
    expect(entry?.Layers).toHaveLength(config.rootfs.diff_ids.length);
    const tag = entry?.RepoTags?.[0] ?? '';
    const ref = parseReference(tag);
    expect(ref.repository).toBe('pd/fixture');
    expect(ref.tag).toBe('docker');

    const repos = validateDockerRepositories(json('docker-save/repositories'));
    const repoName = tag.slice(0, tag.lastIndexOf(':'));
    // The legacy file maps the tag to the top layer's directory.
    expect(repos[repoName]?.docker).toBe(entry?.Layers.at(-1)?.split('/')[0]);
  });
});

describe('runc spec', () => {
  test('default bundle config', () => {
    const spec = validateRuntimeSpec(json('runc-config.json'));
    expect(spec.ociVersion).toMatch(/^1\.\d+\.\d+/);
    expect(spec.process?.cwd).toBe('/');
    expect(spec.process?.user).toEqual({ uid: 0, gid: 0 });
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    expect(spec.linux?.namespaces?.map((n) => n.type)).toContain('mount');
    expect(spec.linux?.maskedPaths).toContain('/proc/kcore');
    expect(spec.mounts?.some((m) => m.destination === '/proc' && m.type === 'proc')).toBe(true);
    expect(spec.process?.capabilities?.bounding).toContain('CAP_KILL');
    expect(spec.process?.rlimits?.[0]).toMatchObject({ type: 'RLIMIT_NOFILE' });
  });

  test('rootless config maps IDs in a user namespace', () => {
    const spec = validateRuntimeSpec(json('runc-rootless-config.json'));
    expect(spec.linux?.namespaces?.map((n) => n.type)).toContain('user');
    expect(spec.linux?.uidMappings?.[0]).toMatchObject({ containerID: 0, size: 1 });
    expect(spec.linux?.gidMappings).toHaveLength(1);
  });
});

// Each real document, broken in one place: the error names that place and the problem.
const DELETE = Symbol('delete');
type Edit = string | ((doc: unknown, value: unknown) => void);
type Mutation = [
  fixture: string,
  validate: (v: unknown) => unknown,
  at: Edit,
  value: unknown,
  message: string,
];

/** Set (or delete) the value at a JSON path written as the errors write them: `$.layers[2].digest`. */
function setAt(doc: unknown, path: string, value: unknown): void {
  const keys = [...path.matchAll(/\.([A-Za-z_$][\w$]*)|\[(\d+)\]|\["([^"]*)"\]/g)].map((m) =>
    m[2] !== undefined ? Number(m[2]) : (m[1] ?? m[3] ?? ''),
  );
  let target = doc as Record<string | number, unknown>;
  for (const key of keys.slice(0, -1)) target = target[key] as Record<string | number, unknown>;
  const last = keys.at(-1) as string | number;
  if (value === DELETE) delete target[last];
  else target[last] = value;
}

/** The repository key of `repositories` changes with each capture: edit the first one's tag. */
function setFirstRepoTag(doc: unknown, value: unknown): void {
  const first = Object.values(doc as Record<string, Record<string, unknown>>)[0] as Record<string, unknown>;
  first.docker = value;
}

const malformed: Mutation[] = [
  [
    'docker-manifest.json',
    validateImageManifest,
    '$.layers[2].digest',
    'abc',
    '$.layers[2].digest: expected a digest like sha256:<64 hex>, got "abc"',
  ],
  [
    'docker-manifest.json',
    validateImageManifest,
    '$.layers[1].digest',
    `sha256:${'AB'.repeat(32)}`,
    '$.layers[1].digest: expected a digest like sha256:<64 hex>',
  ],
  [
    'docker-manifest.json',
    validateImageManifest,
    '$.layers[0].digest',
    `sha256+b64u+:${'a'.repeat(40)}`,
    '$.layers[0].digest: expected a digest like sha256:<64 hex>',
  ],
  [
    'docker-manifest.json',
    validateImageManifest,
    '$.layers[0].size',
    -1,
    '$.layers[0].size: must not be negative, got -1',
  ],
  [
    'docker-manifest.json',
    validateImageManifest,
    '$.layers[0].size',
    2 ** 60,
    '$.layers[0].size: is larger than the largest safe integer',
  ],
  [
    'docker-manifest.json',
    validateImageManifest,
    '$.config.size',
    12.5,
    '$.config.size: expected an integer, got 12.5',
  ],
  [
    'docker-manifest.json',
    validateImageManifest,
    '$.config.size',
    null,
    '$.config.size: expected an integer, got null',
  ],
  ['docker-manifest.json', validateImageManifest, '$.config', DELETE, '$.config: is missing'],
  [
    'docker-manifest.json',
    validateImageManifest,
    '$.schemaVersion',
    '2',
    '$.schemaVersion: expected 2, got "2"',
  ],
  [
    'docker-manifest.json',
    validateImageManifest,
    '$.mediaType',
    2,
    '$.mediaType: expected application/vnd.oci.image.manifest.v1+json or',
  ],
  ['docker-manifest.json', validateImageManifest, '$.layers', null, '$.layers: expected an array, got null'],
  [
    'docker-manifest.json',
    validateImageManifest,
    '$.layers[0].mediaType',
    DELETE,
    '$.layers[0].mediaType: is missing',
  ],
  [
    'oci-manifest.json',
    validateImageManifest,
    '$.annotations',
    { created: 5 },
    '$.annotations.created: expected a string, got 5',
  ],
  [
    'oci-manifest.json',
    validateImageManifest,
    '$.subject',
    { mediaType: MediaType.OciManifest, size: 1 },
    '$.subject.digest: is missing',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.rootfs.diff_ids[1]',
    'sha256:xyz',
    '$.rootfs.diff_ids[1]: expected a digest',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.rootfs.type',
    'layer',
    '$.rootfs.type: expected "layers", got "layer"',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.config.Env',
    'PATH=/bin',
    '$.config.Env: expected an array, got "PATH=/bin"',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.config.Env[1]',
    7,
    '$.config.Env[1]: expected a string, got 7',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.config.Env[0]',
    'NOVALUE',
    '$.config.Env[0]: expected NAME=VALUE, got "NOVALUE"',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.container_config.Env[0]',
    '=value',
    '$.container_config.Env[0]: expected NAME=VALUE, got "=value"',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.config.ExposedPorts.http',
    {},
    '$.config.ExposedPorts.http: expected a port like 8080/tcp',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.config.ExposedPorts["70000/tcp"]',
    {},
    '$.config.ExposedPorts["70000/tcp"]: port 70000/tcp is above 65535',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.config.Volumes["/data"]',
    true,
    '$.config.Volumes["/data"]: expected an object, got true',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.config.Healthcheck.Interval',
    -1,
    '$.config.Healthcheck.Interval: must not be negative',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.config.Labels.maintainer',
    null,
    '$.config.Labels.maintainer: expected a string, got null',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.history[3].empty_layer',
    'yes',
    '$.history[3].empty_layer: expected true or false, got "yes"',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.created',
    'yesterday',
    '$.created: expected an RFC 3339 timestamp',
  ],
  [
    'docker-config.json',
    validateImageConfig,
    '$.history[0].created',
    '2024-13-01T00:00:00Z',
    '$.history[0].created: expected an RFC 3339 timestamp',
  ],
  ['docker-config.json', validateImageConfig, '$.architecture', DELETE, '$.architecture: is missing'],
  [
    'docker-config.json',
    validateImageConfig,
    '$.container_config.Cmd',
    5,
    '$.container_config.Cmd: expected an array, got 5',
  ],
  [
    'oci-index.json',
    validateOciIndex,
    '$.manifests[0].platform.architecture',
    1,
    '$.manifests[0].platform.architecture: expected a string, got 1',
  ],
  ['oci-index.json', validateOciIndex, '$.manifests', null, '$.manifests: expected an array, got null'],
  [
    'docker-manifest-list.json',
    validateDockerManifestList,
    '$.manifests[1].size',
    -3,
    '$.manifests[1].size: must not be negative, got -3',
  ],
  [
    'skopeo-layout/oci-layout',
    validateOciLayout,
    '$.imageLayoutVersion',
    1,
    '$.imageLayoutVersion: expected a version like 1.0.0, got 1',
  ],
  [
    'docker-save/manifest.json',
    validateDockerArchiveManifest,
    '$[0].Config',
    '../etc/passwd',
    '$[0].Config: expected a relative path inside the archive',
  ],
  [
    'docker-save/manifest.json',
    validateDockerArchiveManifest,
    '$[0].Layers[0]',
    '/abs/layer.tar',
    '$[0].Layers[0]: expected a relative path inside the archive',
  ],
  [
    'docker-save/manifest.json',
    validateDockerArchiveManifest,
    '$[0].LayerSources',
    { nope: {} },
    '$[0].LayerSources.nope: expected a digest',
  ],
  [
    'docker-save/manifest.json',
    validateDockerArchiveManifest,
    '$[0].Layers',
    DELETE,
    '$[0].Layers: is missing',
  ],
  [
    'docker-save/repositories',
    validateDockerRepositories,
    setFirstRepoTag,
    'sha256:x',
    'expected a layer ID of 64 lowercase hex characters',
  ],
  [
    'runc-config.json',
    validateRuntimeSpec,
    '$.process.cwd',
    'relative',
    '$.process.cwd: expected an absolute path, got "relative"',
  ],
  [
    'runc-config.json',
    validateRuntimeSpec,
    '$.linux.namespaces[0].type',
    'bogus',
    '$.linux.namespaces[0].type: expected one of pid, network',
  ],
  [
    'runc-config.json',
    validateRuntimeSpec,
    '$.process.user.uid',
    2 ** 32,
    '$.process.user.uid: must be at most 4294967295',
  ],
  [
    'runc-config.json',
    validateRuntimeSpec,
    '$.process.rlimits[0].type',
    'NOFILE',
    '$.process.rlimits[0].type: expected a limit like RLIMIT_NOFILE',
  ],
  [
    'runc-config.json',
    validateRuntimeSpec,
    '$.mounts[0].destination',
    DELETE,
    '$.mounts[0].destination: is missing',
  ],
  ['runc-config.json', validateRuntimeSpec, '$.ociVersion', DELETE, '$.ociVersion: is missing'],
  [
    'runc-config.json',
    validateRuntimeSpec,
    '$.process.capabilities.bounding[3]',
    'KILL',
    '$.process.capabilities.bounding[3]: expected a capability like CAP_CHOWN',
  ],
  [
    'runc-rootless-config.json',
    validateRuntimeSpec,
    '$.linux.uidMappings[0].size',
    -1,
    '$.linux.uidMappings[0].size: must not be negative, got -1',
  ],
  [
    'runc-rootless-config.json',
    validateRuntimeSpec,
    '$.linux.maskedPaths[0]',
    'proc/kcore',
    '$.linux.maskedPaths[0]: expected an absolute path',
  ],
];

describe('malformed real documents name the path and the problem', () => {
  test.each(malformed)('%s: %s', (fixture, validate, at, value, message) => {
    const good = json(fixture);
    expect(() => validate(structuredClone(good))).not.toThrow();
    const bad = structuredClone(good);
    if (typeof at === 'function') at(bad, value);
    else setAt(bad, at, value);
    let error: unknown;
    try {
      validate(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toContain(message);
    expect((error as ValidationError).code).toBe('INVALID_DOCUMENT');
  });

  test('unknown fields survive validation untouched', () => {
    const doc = json('docker-config.json') as Record<string, unknown>;
    doc['x-future'] = { nested: [1, 2] };
    const validated = validateImageConfig(doc) as unknown as Record<string, unknown>;
    expect(validated).toBe(doc);
    expect(validated['x-future']).toEqual({ nested: [1, 2] });
    expect(JSON.parse(JSON.stringify(validated))).toEqual(doc);
  });
});
