import { PdError, truncate } from '@pd/oci-types';

/** The file is not a well-formed tar, or not the kind of archive/layout the caller asked for. */
export class ArchiveFormatError extends PdError {
  readonly path: string;
  constructor(path: string, problem: string, hint?: string) {
    super(`${truncate(path)}: ${problem}`, {
      code: 'ARCHIVE_FORMAT',
      hint:
        hint ?? 'the file is not an image archive pd can read (docker save output, OCI layout or archive)',
    });
    this.path = path;
  }
}

/** The archive ends in the middle of a header or a member. */
export class TruncatedArchiveError extends PdError {
  readonly path: string;
  constructor(path: string, where: string) {
    super(`${truncate(path)}: archive is truncated (${where})`, {
      code: 'ARCHIVE_TRUNCATED',
      hint: 'the file was cut short, e.g. by an interrupted download or copy; fetch or save it again',
    });
    this.path = path;
  }
}

/** The whole archive is compressed; pd needs random access to its members. */
export class CompressedArchiveError extends PdError {
  readonly path: string;
  readonly compression: string;
  constructor(path: string, compression: string) {
    const tool = compression === 'zstd' ? 'zstd -d' : compression === 'xz' ? 'xz -dk' : 'gunzip -k';
    super(`${truncate(path)}: the archive is ${compression}-compressed`, {
      code: 'ARCHIVE_COMPRESSED',
      hint: `pd reads archives in place and needs an uncompressed tar: run \`${tool} <file>\` and pass the .tar`,
    });
    this.path = path;
    this.compression = compression;
  }
}

/** A file the archive's own metadata names (a layer, a config, a blob) is not in it. */
export class MissingMemberError extends PdError {
  readonly path: string;
  readonly member: string;
  constructor(path: string, member: string, hint?: string) {
    super(`${truncate(path)}: "${truncate(member)}" is missing`, {
      code: 'MEMBER_MISSING',
      hint: hint ?? 'the archive or layout is incomplete; write it again from its source',
    });
    this.path = path;
    this.member = member;
  }
}

/** Archive metadata (manifest.json, a symlink member) points outside the archive. */
export class UnsafeMemberError extends PdError {
  readonly path: string;
  readonly member: string;
  constructor(path: string, member: string, reason: string) {
    super(`${truncate(path)}: "${truncate(member)}" ${reason}`, {
      code: 'MEMBER_UNSAFE',
      hint: 'archive members must stay inside the archive; this file was refused as hostile or corrupt',
    });
    this.path = path;
    this.member = member;
  }
}

/** No image in the archive or layout matches the tag / ref / position asked for. */
export class ImageNotFoundError extends PdError {
  readonly wanted: string;
  readonly available: string[];
  constructor(where: string, wanted: string, available: string[], how?: string) {
    super(`${truncate(where)}: no image ${truncate(wanted)}`, {
      code: 'IMAGE_NOT_FOUND',
      hint: available.length
        ? `${how ? `${how}; ` : ''}available: ${available.map((a) => truncate(a, 100)).join(', ')}`
        : 'it holds no images',
    });
    this.wanted = wanted;
    this.available = available;
  }
}

/** An archive or layout holds several images and nothing says which one to read. */
export class AmbiguousImageError extends PdError {
  readonly available: string[];
  constructor(where: string, count: number, available: string[], how: string) {
    super(`${truncate(where)}: holds ${count} images; say which one`, {
      code: 'IMAGE_AMBIGUOUS',
      hint: `${how}; available: ${available.map((a) => truncate(a, 100)).join(', ')}`,
    });
    this.available = available;
  }
}

/** An OCI image layout that is missing its marker files or uses an unsupported version. */
export class LayoutError extends PdError {
  readonly path: string;
  constructor(path: string, problem: string, hint?: string) {
    super(`${truncate(path)}: ${problem}`, {
      code: 'OCI_LAYOUT',
      hint: hint ?? 'an OCI image layout has an oci-layout file, an index.json and a blobs/ directory',
    });
    this.path = path;
  }
}
