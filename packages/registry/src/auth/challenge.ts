/** One `WWW-Authenticate` challenge: scheme (lowercased) and its parameters (names lowercased). */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parse a `WWW-Authenticate` header (RFC 7235): one or more challenges separated by commas, each
 * a scheme followed by `name=value` or `name="quoted \"value\""` parameters. Token68 forms and
 * malformed pieces are skipped rather than failing the request.
 */
export function parseChallenges(header: string | undefined): Challenge[] {
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
