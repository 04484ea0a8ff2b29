export { DockerArchiveLayer, type KnownLayerFacts } from './archive-layer.js';
export { type BlobStore, DirBlobStore, TarBlobStore } from './blob-store.js';
export {
  type DockerArchiveEntryImage,
  DockerArchiveImage,
  type ReadDockerArchiveOptions,
  readDockerArchive,
  readDockerArchiveAll,
} from './docker-archive-reader.js';
export {
  type DockerArchiveInput,
  type DockerArchiveLayout,
  type WriteDockerArchiveOptions,
  writeDockerArchive,
} from './docker-archive-writer.js';
export {
  AmbiguousImageError,
  ArchiveFormatError,
  CompressedArchiveError,
  ImageNotFoundError,
  LayoutError,
  MissingMemberError,
  TruncatedArchiveError,
  UnsafeMemberError,
} from './errors.js';
export type { ManifestPolicy } from './image-blobs.js';
export { LayoutImage, LayoutIndex, LayoutLayer } from './oci-layout-image.js';
export {
  IMAGE_NAME_ANNOTATION,
  REF_NAME_ANNOTATION,
  type ReadLayoutOptions,
  readOciArchive,
  readOciLayout,
} from './oci-layout-reader.js';
export { type WriteOciOptions, writeOciArchive, writeOciLayout } from './oci-layout-writer.js';
export { type ImageFileFormat, sniffFormat } from './sniff.js';
export { type MemberType, TarIndex, type TarMember } from './tar-index.js';
export { type SelfVerifying, VERIFIED_STREAMS } from './verified-stream.js';
