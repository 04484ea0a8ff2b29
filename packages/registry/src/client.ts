import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Digest } from '@pd/oci-types';
import { Authenticator } from './auth/session.js';
import { type BlobHead, deleteBlob, type GetBlobOptions, getBlob, headBlob } from './blobs.js';
import type { Context } from './context.js';
import { CredentialStore, type CredentialsOption } from './credentials/store.js';
import { downloadBlob, downloadBlobAt } from './download.js';
import { apiHost, Endpoints } from './endpoint.js';
import { type LoginContext, type LoginResult, login, logout, normalizeRegistry } from './login.js';
import {
  DEFAULT_MAX_MANIFEST_SIZE,
  deleteManifest,
  type GetManifestOptions,
  getManifest,
  headManifest,
  type Manifest,
  type ManifestHead,
  type PutManifestOptions,
  putManifest,
} from './manifests.js';
import {
  type PutReferrerOptions,
  type PutReferrerResult,
  putReferrer,
  type Referrers,
  type ReferrersOptions,
  referrers,
} from './referrers.js';
import { Requester } from './requester.js';
import { catalog, type ListOptions, listTags } from './tags.js';
import {
  HttpTransport,
  type Logger,
  type ProxyOptions,
  proxyFromEnv,
  type TimeoutOptions,
} from './transport/http.js';
import { type RetryOptions, retryPolicy } from './transport/retry.js';
import { Semaphore } from './transport/semaphore.js';
import {
  type CallOptions,
  type ProgressListener,
  type ReferenceLike,
  type RepositoryLike,
  toReference,
  toRepository,
  toSourceRepository,
} from './types.js';
import { mountBlob, type OpenSource, type UploadOptions, type UploadResult, uploadBlob } from './uploads.js';

/** Options of `new RegistryClient()`; every one is optional. */
export interface RegistryClientOptions {
  /** Credentials by registry (or a function), consulted before docker's config. */
  credentials?: CredentialsOption;
  /** Directory holding docker's config.json (default `$DOCKER_CONFIG` or `~/.docker`); false to ignore it. */
  dockerConfig?: string | false;
  /**
   * Registries that may be reached over plain HTTP and with unverified TLS (true: all). HTTPS is
   * still tried first. Loopback registries (localhost, 127.0.0.0/8, ::1) are always allowed.
   */
  insecure?: boolean | readonly string[];
  /** `User-Agent` of every request (default `pd/<version> (node <version>)`). */
  userAgent?: string;
  /** Concurrent blob downloads, and separately uploads, per registry (default 6). */
  concurrency?: number;
  /** Retries of failed requests and interrupted transfers (defaults in {@link RetryOptions}). */
  retry?: RetryOptions;
  /** Connect, header and body timeouts (defaults in {@link TimeoutOptions}). */
  timeout?: TimeoutOptions;
  /** Progress of every transfer this client makes (besides per-call listeners). */
  onProgress?: ProgressListener;
  /** Request-level logging; messages never contain credentials, tokens or query strings. */
  logger?: Logger;
  /** Largest manifest accepted or sent, in bytes (default 4 MiB). */
  maxManifestSize?: number;
  /**
   * Forward proxy: `'env'` (default) reads `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` (lowercase
   * too) as docker and crane do; loopback registries are always reached directly. false: none.
   */
  proxy?: 'env' | ProxyOptions | false;
}

/** What `ping` found: where the registry's API answers and how it wants to be authenticated. */
export interface PingResult {
  /** The registry, normalized (`docker.io` for Docker Hub's names). */
  registry: string;
  /** API origin used (`https://registry-1.docker.io`, `http://127.0.0.1:5000`). */
  url: string;
  /**
   * The scheme pd answers (`basic`, `bearer`), `other` when a 401 offered only schemes pd cannot
   * answer, `none` when `/v2/` asked for no credentials.
   */
  auth: 'none' | 'basic' | 'bearer' | 'other';
  /** The `Docker-Distribution-API-Version` header of `/v2/` (`registry/2.0`), when sent. */
  apiVersion: string | undefined;
}

const VERSION = '0.1.0';

/**
 * A client of the OCI distribution API. One instance keeps connections, tokens and per-registry
 * state; share it. Repositories are `{ registry, repository }` objects (a `Reference` fits) or
 * strings parsed like docker does.
 */
export class RegistryClient {
  private readonly http: HttpTransport;
  private readonly endpoints: Endpoints;
  private readonly credentials: CredentialStore;
  private readonly auth: Authenticator;
  private readonly ctx: Context;
  private readonly loginCtx: LoginContext;
  private readonly concurrency: number;

  constructor(options: RegistryClientOptions = {}) {
    const policy = retryPolicy(options.retry);
    const logger = options.logger;
    this.http = new HttpTransport({
      timeout: options.timeout,
      userAgent: options.userAgent ?? `pd/${VERSION} (node ${process.version})`,
      logger,
      proxy:
        options.proxy === false
          ? undefined
          : options.proxy && options.proxy !== 'env'
            ? options.proxy
            : proxyFromEnv(),
    });
    this.endpoints = new Endpoints(this.http, { insecure: options.insecure ?? false, policy, logger });
    this.credentials = new CredentialStore({
      credentials: options.credentials,
      dockerConfig: options.dockerConfig,
    });
    this.auth = new Authenticator(this.http, this.credentials, {
      policy,
      logger,
      allowHttp: (r) => this.endpoints.allowsHttp(r),
    });
    const requester = new Requester(this.http, this.endpoints, this.auth, policy, logger);
    this.concurrency = options.concurrency ?? 6;
    const downloads = new Map<string, Semaphore>();
    const uploads = new Map<string, Semaphore>();
    const pool = (map: Map<string, Semaphore>, registry: string) => {
      let s = map.get(registry);
      if (!s) {
        s = new Semaphore(this.concurrency);
        map.set(registry, s);
      }
      return s;
    };
    const clientProgress = options.onProgress;
    this.ctx = {
      requester,
      policy,
      logger,
      maxManifestSize: options.maxManifestSize ?? DEFAULT_MAX_MANIFEST_SIZE,
      downloads: (r) => pool(downloads, r),
      uploads: (r) => pool(uploads, r),
      noSinglePost: new Set(),
      progress(listener, event) {
        listener?.(event);
        clientProgress?.(event);
      },
    };
    this.loginCtx = {
      http: this.http,
      endpoints: this.endpoints,
      auth: this.auth,
      policy,
      logger,
      configPath: this.credentials.configPath,
    };
  }

  /** Check the registry answers the API (`GET /v2/`) and how it wants to be authenticated. */
  async ping(registry: string, opts: CallOptions = {}): Promise<PingResult> {
    const r = normalizeRegistry(registry);
    const ep = await this.endpoints.resolve(r, opts.signal);
    const scheme = ep.challenge?.scheme;
    // A 401 offering only schemes pd cannot answer (Negotiate...) is auth, not 'none'.
    const other = ep.status === 401 && ep.challenges.length > 0;
    return {
      registry: r,
      url: ep.origin,
      auth: scheme === 'basic' || scheme === 'bearer' ? scheme : other ? 'other' : 'none',
      apiVersion: ep.apiVersion,
    };
  }

  getManifest(ref: ReferenceLike | string, opts?: GetManifestOptions): Promise<Manifest> {
    return getManifest(this.ctx, toReference(ref), opts);
  }

  headManifest(
    ref: ReferenceLike | string,
    opts?: CallOptions & { accept?: readonly string[] },
  ): Promise<ManifestHead | undefined> {
    return headManifest(this.ctx, toReference(ref), opts);
  }

  putManifest(
    ref: ReferenceLike | string,
    bytes: Uint8Array,
    mediaType: string,
    opts?: PutManifestOptions,
  ): Promise<Digest> {
    return putManifest(this.ctx, toReference(ref), bytes, mediaType, opts);
  }

  deleteManifest(ref: ReferenceLike | string, opts?: CallOptions): Promise<void> {
    return deleteManifest(this.ctx, toReference(ref), opts);
  }

  getBlob(repo: RepositoryLike | string, digest: string, opts?: GetBlobOptions): Promise<Readable> {
    return getBlob(this.ctx, toRepository(repo), digest, opts);
  }

  /** Download a blob to a file: verified, written beside it and renamed into place only when good. */
  downloadBlob(
    repo: RepositoryLike | string,
    digest: string,
    path: string,
    opts?: GetBlobOptions,
  ): Promise<{ digest: Digest; size: number; path: string }> {
    return downloadBlob(this.ctx, toRepository(repo), digest, path, opts);
  }

  /**
   * Download a blob, verified, into `file` at `position` (positional writes, the handle's own
   * position untouched), beside other blobs landing in the same file; resolves with its size.
   * On failure the region holds whatever arrived: discard the file.
   */
  downloadBlobAt(
    repo: RepositoryLike | string,
    digest: string,
    file: FileHandle,
    position: number,
    opts?: GetBlobOptions,
  ): Promise<number> {
    return downloadBlobAt(this.ctx, toRepository(repo), digest, file, position, opts);
  }

  headBlob(repo: RepositoryLike | string, digest: string, opts?: CallOptions): Promise<BlobHead | undefined> {
    return headBlob(this.ctx, toRepository(repo), digest, opts);
  }

  deleteBlob(repo: RepositoryLike | string, digest: string, opts?: CallOptions): Promise<void> {
    return deleteBlob(this.ctx, toRepository(repo), digest, opts);
  }

  uploadBlob(repo: RepositoryLike | string, open: OpenSource, opts?: UploadOptions): Promise<UploadResult> {
    return uploadBlob(this.ctx, toRepository(repo), open, opts);
  }

  mountBlob(
    repo: RepositoryLike | string,
    digest: string,
    fromRepository: RepositoryLike | string,
    opts?: CallOptions,
  ): Promise<boolean> {
    const to = toRepository(repo);
    return mountBlob(this.ctx, to, digest, toSourceRepository(to, fromRepository), opts);
  }

  listTags(repo: RepositoryLike | string, opts?: ListOptions): Promise<string[]> {
    return listTags(this.ctx, toRepository(repo), opts);
  }

  catalog(registry: string, opts?: ListOptions): Promise<string[]> {
    return catalog(this.ctx, normalizeRegistry(registry), opts);
  }

  referrers(repo: RepositoryLike | string, digest: string, opts?: ReferrersOptions): Promise<Referrers> {
    return referrers(this.ctx, toRepository(repo), digest, opts);
  }

  /**
   * PUT a manifest that has a `subject` (by digest) and make it listed by `referrers`: through the
   * registry's referrers API where it has one, else by merging it into the tag-schema index.
   */
  putReferrer(
    repo: RepositoryLike | string,
    bytes: Uint8Array,
    mediaType: string,
    opts?: PutReferrerOptions,
  ): Promise<PutReferrerResult> {
    return putReferrer(this.ctx, toRepository(repo), bytes, mediaType, opts);
  }

  /** Verify credentials against the registry and store them in docker's config (or its helper). */
  login(registry: string, username: string, password: string, opts?: CallOptions): Promise<LoginResult> {
    return login(this.loginCtx, registry, username, password, opts);
  }

  /** Remove stored credentials; true when there were any. */
  logout(registry: string, opts?: CallOptions): Promise<boolean> {
    return logout(this.loginCtx, registry, opts);
  }

  /**
   * Open connections for the blob downloads about to come from `repo`'s registry: a pull calls it
   * before it asks for the manifest, and each download that finds one waiting skips its
   * connection's round trip (over HTTPS, its handshake too). Up to `count` of them waiting, by
   * default as many as downloads run at once per registry (a second call tops them up); those no
   * download took within 10 s are closed, and so are all at {@link close}. Nothing is opened where
   * downloads get no connection of their own (through a proxy).
   */
  preconnect(repo: RepositoryLike | string, opts: { count?: number } = {}): void {
    const { registry } = toRepository(repo);
    const count = opts.count ?? this.concurrency;
    const open = (ep: { origin: string; insecureTls: boolean }) => {
      const url = new URL('/v2/', ep.origin);
      if (this.http.socketable(url)) this.http.warm.open(url, count, ep.insecureTls);
    };
    if (this.endpoints.isKnown(registry)) {
      this.endpoints.resolve(registry).then(open, () => undefined);
      return;
    }
    // Before /v2/ answered: where the ping goes first (the manifest request goes there too). If
    // the ping finds the API elsewhere (a loopback registry that speaks only TLS, an insecure
    // one only plain HTTP), the connections follow it there.
    const guess = this.endpoints.likely(registry);
    open(guess);
    this.endpoints.whenResolved(registry, (ep) => {
      if (ep.origin === guess.origin && ep.insecureTls === guess.insecureTls) return;
      this.http.warm.drop(new URL('/v2/', guess.origin), guess.insecureTls);
      open(ep);
    });
  }

  /** Close pooled connections. */
  close(): Promise<void> {
    return this.http.close();
  }

  /** The host the API of `registry` is served from (`docker.io` → `registry-1.docker.io`). */
  static apiHost(registry: string): string {
    return apiHost(registry);
  }
}
