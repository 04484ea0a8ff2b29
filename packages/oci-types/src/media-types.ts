/** Every media type pd reads or writes. Values are exact wire strings. */
export const MediaType = {
  // OCI image spec
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  OciLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  // Docker image manifest v2 schema 2
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  DockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerPluginConfig: 'application/vnd.docker.plugin.v1+json',
  // Legacy, read only to refuse clearly
  DockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  // Artifacts commonly found beside images (referrers)
  InTotoAttestation: 'application/vnd.in-toto+json',
  CosignSignature: 'application/vnd.dev.cosign.simplesigning.v1+json',
  SbomSpdx: 'application/spdx+json',
  SbomCycloneDx: 'application/vnd.cyclonedx+json',
  HelmConfig: 'application/vnd.cncf.helm.config.v1+json',
  HelmChart: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
  WasmConfig: 'application/vnd.wasm.config.v0+json',
  WasmContent: 'application/vnd.wasm.content.layer.v1+wasm',
} as const;

/** A key of `MediaType`, such as `OciManifest`. */
export type MediaTypeName = keyof typeof MediaType;
/** One of the media type strings listed in `MediaType`. */
export type KnownMediaType = (typeof MediaType)[MediaTypeName];

/** Media types sent in `Accept` when fetching a manifest by tag (any of the four image kinds). */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
];

/** How a layer tar is compressed, as its media type says (`none`: a plain tar). */
export type Compression = 'gzip' | 'zstd' | 'none';

/** True for the OCI image index and Docker manifest list media types. */
export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList;
}

/** True for the OCI image manifest and Docker schema 2 manifest media types. */
export function isImageManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciManifest || mt === MediaType.DockerManifest;
}

/** True for the Docker schema 1 manifest media types (signed or not), which pd refuses to read. */
export function isLegacyManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaType.DockerManifestV1 || mt === MediaType.DockerManifestV1Signed;
}

/** True for the OCI and Docker image config media types (not artifact configs). */
export function isConfigMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciConfig || mt === MediaType.DockerConfig;
}

const LAYER_TYPES: ReadonlyMap<
  string,
  { compression: Compression; docker: boolean; distributable: boolean }
> = new Map([
  [MediaType.OciLayer, { compression: 'none', docker: false, distributable: true }],
  [MediaType.OciLayerGzip, { compression: 'gzip', docker: false, distributable: true }],
  [MediaType.OciLayerZstd, { compression: 'zstd', docker: false, distributable: true }],
  [MediaType.OciLayerNondistributable, { compression: 'none', docker: false, distributable: false }],
  [MediaType.OciLayerNondistributableGzip, { compression: 'gzip', docker: false, distributable: false }],
  [MediaType.OciLayerNondistributableZstd, { compression: 'zstd', docker: false, distributable: false }],
  [MediaType.DockerLayer, { compression: 'none', docker: true, distributable: true }],
  [MediaType.DockerLayerGzip, { compression: 'gzip', docker: true, distributable: true }],
  [MediaType.DockerLayerZstd, { compression: 'zstd', docker: true, distributable: true }],
  [MediaType.DockerForeignLayer, { compression: 'gzip', docker: true, distributable: false }],
]);

/**
 * True for the layer media types pd knows: OCI and Docker, uncompressed, gzip or zstd,
 * distributable or not.
 */
export function isLayerMediaType(mt: string | undefined): boolean {
  return mt !== undefined && LAYER_TYPES.has(mt);
}

/** Compression implied by a layer media type, or undefined for a type that is not a known layer. */
export function layerCompression(mt: string): Compression | undefined {
  return LAYER_TYPES.get(mt)?.compression;
}

/**
 * False for the non-distributable layer types (OCI `nondistributable`, Docker foreign layers),
 * true for any other media type. Such layers are by convention not copied between registries;
 * their descriptor may list `urls` to fetch them from.
 */
export function isDistributableLayer(mt: string): boolean {
  return LAYER_TYPES.get(mt)?.distributable ?? true;
}

/** The layer media type for a compression in the OCI or Docker family. */
export function layerMediaType(compression: Compression, family: 'oci' | 'docker' = 'oci'): string {
  if (family === 'docker') {
    return compression === 'gzip'
      ? MediaType.DockerLayerGzip
      : compression === 'zstd'
        ? MediaType.DockerLayerZstd
        : MediaType.DockerLayer;
  }
  return compression === 'gzip'
    ? MediaType.OciLayerGzip
    : compression === 'zstd'
      ? MediaType.OciLayerZstd
      : MediaType.OciLayer;
}

/** Map a media type of one family to the equivalent of the other (manifest, index, config, layers). */
export function convertMediaType(mt: string, family: 'oci' | 'docker'): string {
  const toOci: Record<string, string> = {
    [MediaType.DockerManifest]: MediaType.OciManifest,
    [MediaType.DockerManifestList]: MediaType.OciIndex,
    [MediaType.DockerConfig]: MediaType.OciConfig,
    [MediaType.DockerLayer]: MediaType.OciLayer,
    [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
    [MediaType.DockerLayerZstd]: MediaType.OciLayerZstd,
    [MediaType.DockerForeignLayer]: MediaType.OciLayerNondistributableGzip,
  };
  if (family === 'oci') return toOci[mt] ?? mt;
  for (const [docker, oci] of Object.entries(toOci)) if (oci === mt) return docker;
  return mt;
}
