// The little HTTP/1.1 that pd's raw-socket transfers speak (socket-download.ts, socket-request.ts):
// a request head, a response head, and the error for a connection that failed on the way.

/** A failure of the connection itself (the caller may try again another way). */
export class SocketError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'SocketError';
  }
}

/**
 * Codes of a connection that went silent, by phase: what connectionError words as "timed out
 * connecting" or "stopped answering", and the retry rules retry.
 */
export const TIMEOUT_CODES = {
  connect: 'ETIMEDOUT',
  headers: 'HEADERS_TIMEOUT',
  body: 'BODY_TIMEOUT',
} as const;

/** A parsed response head; header names in lower case, repeated headers joined by ", ". */
export interface Head {
  status: number;
  headers: Record<string, string>;
}

/** Parse a response head (status line and header lines, without the blank line). */
export function parseHead(text: string): Head {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (!m)
    throw new SocketError(
      `not an HTTP/1.x response: ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`,
      'EPROTO',
    );
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { status: Number(m[1]), headers };
}

/**
 * A request head for a connection of its own: `Host` from the URL, and `Connection: close`, so
 * the server ends the connection after its answer (a response without a length ends there too).
 */
export function requestHead(method: string, url: URL, headers: Record<string, string>): string {
  const lines = Object.entries({ ...headers, host: url.host, connection: 'close' })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `${method} ${url.pathname}${url.search} HTTP/1.1\r\n${lines}\r\n`;
}
