import { AuthError } from '../errors.js';

/** One `WWW-Authenticate` challenge: scheme (lowercased) and its parameters (names lowercased). */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parse `WWW-Authenticate` (RFC 7235): every header line (a server may send `Negotiate` and
 * `Bearer realm=...` on separate lines; HTTP clients hand those over as an array), each holding
 * one or more challenges separated by commas, each a scheme followed by `name=value` or
 * `name="quoted \"value\""` parameters. Token68 forms and malformed pieces are skipped rather
 * than failing the request.
 */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (typeof header !== 'string') return header.flatMap((line) => parseLine(line));
  return parseLine(header);
}

/** Every challenge of a response's headers (all `WWW-Authenticate` lines). */
export function challengesOf(headers: Readonly<Record<string, string | string[] | undefined>>): Challenge[] {
  return parseChallenges(headers['www-authenticate']);
}

function parseLine(header: string): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  let current: Challenge | undefined;

  const skipSpace = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i] ?? '')) i++;
    return header.slice(start, i);
  };

  while (i < n) {
    skipSpace();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const token = readToken();
    if (token === '') {
      i++; // stray character: skip it
      continue;
    }
    skipSpace();
    if (header[i] === '=' && current) {
      i++;
      skipSpace();
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
        value = header.slice(start, i);
      }
      current.params[token.toLowerCase()] = value;
    } else {
      // A token not followed by "=" starts a new challenge.
      current = { scheme: token.toLowerCase(), params: {} };
      out.push(current);
      // token68 (e.g. `Negotiate abc==`): consume it, it carries nothing for us.
      const save = i;
      const t68 = /^[A-Za-z0-9._~+/-]+=*\s*(?:,|$)/.exec(header.slice(i));
      if (t68 && !/^[A-Za-z0-9._~+/-]+\s*=\s*[^=,\s]/.test(header.slice(i))) i += t68[0].length;
      else i = save;
    }
  }
  return out;
}

/** The challenge pd answers: Bearer preferred over Basic; other schemes are not supported. */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

/**
 * A registry demands authentication (401) but offers only schemes pd cannot answer (Negotiate,
 * NTLM, Digest...). Neither "no auth needed" nor "log in": no credentials would help.
 */
export class UnsupportedAuthSchemeError extends AuthError {
  /** The schemes the registry offered, lowercased, in order, without repeats. */
  readonly schemes: string[];
  constructor(what: string, registry: string, offered: readonly Challenge[], status = 401) {
    const schemes = [...new Set(offered.map((c) => c.scheme))];
    super(
      `${what}: ${registry} asks for authentication with ${schemes.join(', ')}, which pd does not support`,
      {
        registry,
        status,
        code: 'AUTH_SCHEME_UNSUPPORTED',
        hint: 'pd authenticates with Bearer tokens and Basic; have the registry (or a proxy in front of it) offer one of them',
      },
    );
    this.schemes = schemes;
  }
}
