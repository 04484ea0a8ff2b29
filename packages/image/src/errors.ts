import { PdError } from '@pd/oci-types';

/** A layer asked for by index or digest is not in the image. */
export class LayerNotFoundError extends PdError {
  constructor(which: string, count: number) {
    super(`no layer ${which} in the image`, {
      code: 'LAYER_NOT_FOUND',
      hint:
        count === 0 ? 'the image has no layers' : `the image has ${count} layer(s), indexed 0..${count - 1}`,
    });
  }
}

/** A mutation would leave the image inconsistent (layers vs diff_ids, bad config edit...). */
export class InvalidMutationError extends PdError {
  constructor(message: string, hint?: string) {
    super(message, { code: 'INVALID_MUTATION', ...(hint ? { hint } : {}) });
  }
}

/** `rebase`: the image does not start with the old base's layers. */
export class NotBasedOnError extends PdError {
  constructor(detail: string) {
    super(`the image is not based on the old base (${detail})`, {
      code: 'NOT_BASED_ON',
      hint: 'pass the exact base the image was built FROM (pin it by digest)',
    });
  }
}

/** The image and its config disagree (more layers than diff_ids, ...). */
export class InconsistentImageError extends PdError {
  constructor(message: string, hint?: string) {
    super(message, {
      code: 'INCONSISTENT_IMAGE',
      hint: hint ?? 'the manifest and the config of the image do not describe the same layers',
    });
  }
}

/** A blob is not in the local cache (pruned meanwhile, or never stored). */
export class CacheMissError extends PdError {
  readonly digest: string;
  constructor(digest: string, dir: string) {
    super(`blob ${digest} is not in the cache at ${dir}`, {
      code: 'CACHE_MISS',
      hint: 'it was pruned or removed while in use; pull or build the layer again',
    });
    this.digest = digest;
  }
}

/** `EditableImage.run` without a runner registered. */
export class RunnerMissingError extends PdError {
  constructor() {
    super('no image runner is registered', {
      code: 'RUNNER_MISSING',
      hint: "install @pd/runner and import it once (import '@pd/runner'); it registers itself with @pd/image",
    });
  }
}

/** `openImage`: the input is neither an existing path nor a valid reference. */
export class UnknownImageSourceError extends PdError {
  constructor(input: string, why: string, hint?: string) {
    super(`cannot open "${input}" as an image: ${why}`, {
      code: 'UNKNOWN_IMAGE_SOURCE',
      hint:
        hint ?? 'give a docker-archive / OCI archive file, an OCI layout directory, or an image reference',
    });
  }
}

/** An operation needs an image reference and has none (`push()` of an unnamed image). */
export class MissingReferenceError extends PdError {
  constructor(what: string) {
    super(`${what} needs an image reference`, {
      code: 'MISSING_REFERENCE',
      hint: 'name the image first (image.name = "registry/repo:tag") or pass the reference',
    });
  }
}

/** An image source names a file or directory that is not there. */
export class NoSuchImageFileError extends PdError {
  readonly path: string;
  constructor(path: string) {
    super(`no such file or directory: ${path}`, {
      code: 'NOT_FOUND',
      hint: 'give a docker archive (docker save), an OCI archive or an OCI layout directory that exists',
    });
    this.path = path;
  }
}

/** An image source in transport syntax (`oci:DIR:REF`, `docker-archive:FILE:@N`...) that cannot be read. */
export class ImageSourceSyntaxError extends PdError {
  constructor(input: string, why: string) {
    super(`cannot read image source "${input}": ${why}`, {
      code: 'IMAGE_SOURCE_SYNTAX',
      hint: 'write docker://REF, oci:DIR[:REF], oci-archive:FILE[:REF] or docker-archive:FILE[:TAG|:@N]',
    });
  }
}
