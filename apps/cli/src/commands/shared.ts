import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  InvalidReferenceError,
  PdError,
  parseReference,
  parseRepository,
  type Reference,
} from '@pd/oci-types';
import { UsageError } from '../output/errors.js';

const REFERENCE_HINT =
  'write it as docker does: ubuntu, ghcr.io/org/app:1.2, localhost:5000/app@sha256:<hex>';

/**
 * Image references carry no scheme: `http://host/app` is refused with the way to write it (docker's
 * own message, "invalid reference format", does not say).
 */
export function refuseUrl(input: string): void {
  const m = /^(https?):\/\/(.*)$/i.exec(input);
  if (!m) return;
  throw new PdError(`"${input}" is a URL, not an image reference`, {
    code: 'INVALID_REFERENCE',
    hint: `drop the ${m[1]!.toLowerCase()}:// and write ${m[2] || 'HOST/REPO:TAG'}; loopback registries are reached over plain HTTP, others with --insecure`,
  });
}

/** A reference as docker users type it; the error says how to write one. */
export function parseRef(input: string, options: { defaultTag?: string | false } = {}): Reference {
  refuseUrl(input);
  try {
    return parseReference(input, options);
  } catch (e) {
    if (e instanceof InvalidReferenceError && !e.hint) {
      throw new PdError(e.message, { code: e.code, hint: REFERENCE_HINT, cause: e });
    }
    throw e;
  }
}

/** A repository (no tag, no digest): `ubuntu`, `localhost:5000/app`. */
export function parseRepo(input: string): Reference {
  try {
    return parseRepository(input);
  } catch (e) {
    if (e instanceof InvalidReferenceError) {
      throw new PdError(e.message, {
        code: e.code,
        hint: e.hint ?? 'give the repository alone, e.g. ubuntu or localhost:5000/app (no :tag or @digest)',
        cause: e,
      });
    }
    throw e;
  }
}

/** Same as `parseRef` but demanding a digest: `repo@sha256:...`. */
export function parseDigestRef(input: string): Reference & { digest: NonNullable<Reference['digest']> } {
  const ref = parseRef(input, { defaultTag: false });
  if (!ref.digest) {
    throw new UsageError(
      `"${input}" names no digest`,
      'write REPO@sha256:<hex>, e.g. localhost:5000/app@sha256:…',
    );
  }
  return ref as Reference & { digest: NonNullable<Reference['digest']> };
}

/** A value of `--name K=V`; the key must not be empty. */
export function parseKeyValue(option: string, input: string): [string, string] {
  const eq = input.indexOf('=');
  if (eq <= 0) throw new UsageError(`${option} expects KEY=VALUE, got "${input}"`);
  return [input.slice(0, eq), input.slice(eq + 1)];
}

/**
 * Stream into `path` through a temporary file beside it, renamed into place only when the stream
 * ended without error: a failure leaves nothing half-written.
 */
export async function writeFileAtomic(path: string, source: Readable, signal?: AbortSignal): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    await pipeline(source, createWriteStream(tmp, { flags: 'wx' }), signal ? { signal } : {});
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Run `write` into directory `dir`. A directory pd created is removed again when `write` fails, so
 * a failed export or a corrupt layer leaves nothing behind; one that existed is the user's and
 * keeps what was written into it.
 */
export async function intoDirectory<T>(dir: string, write: () => Promise<T>): Promise<T> {
  const existed = await stat(dir).then(
    () => true,
    () => false,
  );
  try {
    return await write();
  } catch (e) {
    if (!existed) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
}

/** Read all of stdin as text (for --password-stdin): the trailing newline is dropped. */
export async function readStdinText(stdin: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stdin) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    size += b.length;
    if (size > 1 << 20) throw new UsageError('stdin holds more than 1 MiB; expected a password');
    chunks.push(b);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export { PLATFORM_OPTION } from './platform-options.js';

export function tryRef(s: string): Reference | undefined {
  try {
    return parseReference(s, { defaultTag: false });
  } catch {
    return undefined;
  }
}
