import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCertificate } from './certificates.js';
import type { TokenAuthConfig } from './registry.js';

/**
 * A token server for the registry's `auth.token` mode, issuing RS256 JWTs shaped like Docker Hub's
 * (claims iss/sub/aud/exp/nbf/iat/jti/access). distribution 2.8 trusts a token when its header
 * carries an `x5c` chain ending in a certificate of `rootcertbundle`, or a `kid` equal to the
 * libtrust fingerprint of such a certificate's key; both are supported (`keyMode`).
 */

/** Access rules: repository name glob (`*` matches any run of characters) → allowed actions. */
export type AccessRules = Record<string, string[]>;

export interface TokenUser {
  password: string;
  /** Repository globs → actions. The key `registry:catalog` grants the catalog (`*`). */
  access: AccessRules;
}

export interface TokenIssuerOptions {
  users?: Record<string, TokenUser>;
  /** What a request without credentials may do (Docker Hub: pull of public repositories). */
  anonymous?: AccessRules;
  service?: string;
  issuer?: string;
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
  /** Which response fields carry the token (default both, like Docker Hub). */
  responseFields?: 'token' | 'access_token' | 'both';
  /** Leave `expires_in` out of the response (clients must assume 60 s). */
  omitExpiresIn?: boolean;
  /** How the JWT header names its key (default `x5c`). */
  keyMode?: 'x5c' | 'kid';
}

export interface TokenRequestRecord {
  method: string;
  /** `password`, `refresh_token`, or `basic` / `anonymous` for GET requests. */
  grant: string;
  user: string | undefined;
  scopes: string[];
  service: string | undefined;
  offline: boolean;
  clientId: string | undefined;
  status: number;
  /** What the issued token grants, as `type:name:actions`. */
  granted: string[];
}

export interface TokenIssuer {
  url: string;
  realm: string;
  service: string;
  issuer: string;
  /** Pass to `startRegistry({ token: issuer.config })`. */
  config: TokenAuthConfig;
  /** Every token request, in order. */
  requests: TokenRequestRecord[];
  /** Change the lifetime of tokens issued from now on (seconds). */
  setExpiresIn(seconds: number): void;
  /** Invalidate every refresh token issued so far. */
  revokeRefreshTokens(): void;
  stop(): Promise<void>;
}

export async function startTokenIssuer(options: TokenIssuerOptions = {}): Promise<TokenIssuer> {
  const dir = mkdtempSync(join(tmpdir(), 'pd-token-issuer-'));
  // A self-signed certificate, trusted by the registry as its rootcertbundle; the token issuer
  // signs with its key.
  const { certificate: certFile, key: keyFile } = selfSignedCertificate(dir, 'pd-test-token-issuer');
  const key = createPrivateKey(readFileSync(keyFile));
  const certPem = readFileSync(certFile, 'utf8');
  const certDer = pemBody(certPem);
  const kid = libtrustKeyId(createPublicKey(key));

  const service = options.service ?? 'pd-test-registry';
  const issuer = options.issuer ?? 'pd-test-issuer';
  const users = options.users ?? {};
  const anonymous = options.anonymous ?? {};
  let expiresIn = options.expiresIn ?? 300;
  const fields = options.responseFields ?? 'both';
  const refreshTokens = new Map<string, string>();
  const requests: TokenRequestRecord[] = [];

  const header = (): Record<string, unknown> =>
    options.keyMode === 'kid'
      ? { typ: 'JWT', alg: 'RS256', kid }
      : { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };

  const issue = (subject: string, access: Grant[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer,
      sub: subject,
      aud: service,
      exp: now + expiresIn,
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access,
    };
    return signJwt(header(), claims, key);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) reply(res, 500, { details: String(e) });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://issuer');
    if (url.pathname !== '/token') {
      reply(res, 404, { details: 'not found' });
      return;
    }
    const record: TokenRequestRecord = {
      method: req.method ?? 'GET',
      grant: 'anonymous',
      user: undefined,
      scopes: [],
      service: undefined,
      offline: false,
      clientId: undefined,
      status: 0,
      granted: [],
    };
    requests.push(record);
    const done = (status: number, body: Record<string, unknown>) => {
      record.status = status;
      reply(res, status, body);
    };

    let params: URLSearchParams;
    let user: string | undefined;
    if (req.method === 'POST') {
      params = new URLSearchParams(await readBody(req));
      record.scopes = (params.get('scope') ?? '').split(' ').filter(Boolean);
      record.grant = params.get('grant_type') ?? '';
      record.offline = params.get('access_type') === 'offline';
      if (record.grant === 'password') {
        user = params.get('username') ?? '';
        if (users[user]?.password !== (params.get('password') ?? '')) {
          record.user = user;
          done(401, { details: 'incorrect username or password' });
          return;
        }
      } else if (record.grant === 'refresh_token') {
        user = refreshTokens.get(params.get('refresh_token') ?? '');
        if (user === undefined) {
          done(401, { error: 'invalid_grant', details: 'unknown or revoked refresh token' });
          return;
        }
      } else {
        done(400, { error: 'unsupported_grant_type' });
        return;
      }
    } else if (req.method === 'GET') {
      params = url.searchParams;
      record.scopes = params.getAll('scope').flatMap((s) => s.split(' ').filter(Boolean));
      record.offline = params.get('offline_token') === 'true';
      const basic = parseBasic(req.headers.authorization);
      if (basic) {
        record.grant = 'basic';
        user = basic.user;
        if (users[user]?.password !== basic.password) {
          record.user = user;
          done(401, { details: 'incorrect username or password' });
          return;
        }
      }
    } else {
      done(405, { details: 'method not allowed' });
      return;
    }
    record.user = user;
    record.service = params.get('service') ?? undefined;
    record.clientId = params.get('client_id') ?? undefined;
    if (record.service !== service) {
      done(400, { details: `unknown service ${String(record.service)}` });
      return;
    }

    const rules = user === undefined ? anonymous : (users[user]?.access ?? {});
    const access = grant(record.scopes, rules);
    record.granted = access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`);
    const token = issue(user ?? '', access);
    const body: Record<string, unknown> = { issued_at: new Date().toISOString() };
    if (!options.omitExpiresIn) body.expires_in = expiresIn;
    if (fields !== 'access_token') body.token = token;
    if (fields !== 'token') body.access_token = token;
    if (req.method === 'POST') body.token_type = 'Bearer';
    // A refresh token is an opaque handle on the user, handed out on request (docker login asks
    // with offline_token / access_type=offline) and when one was used.
    if (user !== undefined && (record.offline || record.grant === 'refresh_token')) {
      const refresh = record.grant === 'refresh_token' ? (params.get('refresh_token') ?? '') : randomUUID();
      refreshTokens.set(refresh, user);
      body.refresh_token = refresh;
    }
    done(200, body);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    config: { realm: `${url}/token`, service, issuer, rootCertBundle: certFile },
    requests,
    setExpiresIn(seconds: number) {
      expiresIn = seconds;
    },
    revokeRefreshTokens() {
      refreshTokens.clear();
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Grant {
  type: string;
  name: string;
  actions: string[];
}

/** Intersect each requested `type:name:actions` scope with what the rules allow. */
function grant(scopes: string[], rules: AccessRules): Grant[] {
  const out: Grant[] = [];
  for (const scope of scopes) {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first <= 0 || last <= first) continue;
    const type = scope.slice(0, first);
    const name = scope.slice(first + 1, last);
    const wanted = scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean);
    let allowed: string[] = [];
    if (type === 'registry') {
      allowed = rules[`registry:${name}`] ?? [];
    } else if (type === 'repository') {
      for (const [pattern, actions] of Object.entries(rules)) {
        if (!pattern.startsWith('registry:') && globMatch(pattern, name)) allowed.push(...actions);
      }
    }
    const actions = wanted.filter((a) => allowed.includes(a) || allowed.includes('*'));
    if (actions.length > 0) out.push({ type, name, actions });
  }
  return out;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
  return re.test(name);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function signJwt(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signingInput), key);
  return `${signingInput}.${b64url(signature)}`;
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

function pemBody(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m?.[1]) throw new Error('no certificate in PEM');
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

/**
 * libtrust's key ID, which distribution 2.8 uses to index the keys of its rootcertbundle:
 * SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without padding, in
 * colon-separated groups of four.
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const sum = createHash('sha256').update(der).digest().subarray(0, 30);
  const b32 = base32(sum);
  const groups: string[] = [];
  for (let i = 0; i < b32.length; i += 4) groups.push(b32.slice(i, i + 4));
  return groups.join(':');
}

function base32(data: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
