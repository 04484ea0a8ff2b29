import { describe, expect, test } from 'vitest';
import {
  AuthError,
  connectionError,
  errorForResponse,
  NotFoundError,
  parseErrorBody,
  RateLimitError,
  RegistryConnectionError,
  RegistryError,
} from './errors.js';

const subject = {
  registry: 'r.example',
  repository: 'team/app',
  what: 'manifest r.example/team/app:1',
  action: 'pull',
};

describe('registry errors', () => {
  test('error bodies: distribution JSON, anything else tolerated', () => {
    expect(
      parseErrorBody(
        '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"1"}}]}',
      ),
    ).toEqual([{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: '1' } }]);
    expect(parseErrorBody('<html>502</html>')).toEqual([]);
    expect(parseErrorBody('{"errors":[{"nocode":1}, 3]}')).toEqual([{ code: 'UNKNOWN' }]);
  });

  test('status and codes pick the class; messages are one line with a hint', () => {
    const nf = errorForResponse(404, [{ code: 'MANIFEST_UNKNOWN', message: 'manifest\nunknown' }], subject, {
      credentials: false,
    });
    expect(nf).toBeInstanceOf(NotFoundError);
    expect(nf.message).toBe('manifest r.example/team/app:1 not found (MANIFEST_UNKNOWN: manifest unknown)');
    expect(nf.hint).toContain('pd login r.example');
    expect(nf.codes).toEqual(['MANIFEST_UNKNOWN']);

    const anon = errorForResponse(401, [{ code: 'UNAUTHORIZED' }], subject, { credentials: false });
    expect(anon).toBeInstanceOf(AuthError);
    expect(anon.message).toBe('manifest r.example/team/app:1: authentication required (UNAUTHORIZED)');
    const denied = errorForResponse(403, [{ code: 'DENIED' }], subject, { credentials: true, user: 'bob' });
    expect(denied.message).toBe('manifest r.example/team/app:1: access denied (pull) (DENIED)');
    expect(denied.hint).toContain('"bob" lacks pull permission on team/app');
    const rejected = errorForResponse(401, [], subject, { credentials: true, rejected: true, user: 'bob' });
    expect(rejected.message).toBe(
      'manifest r.example/team/app:1: r.example rejected the credentials of "bob"',
    );

    expect(errorForResponse(429, [], subject, { credentials: false, retryAfter: '30' })).toBeInstanceOf(
      RateLimitError,
    );
    const e500 = errorForResponse(500, [], subject, { credentials: false });
    expect(e500.constructor).toBe(RegistryError);
    expect(e500.status).toBe(500);
  });

  test('network failures name the host and the cause, and keep the original as cause', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const e = connectionError(refused, '127.0.0.1:1', '127.0.0.1:1');
    expect(e).toBeInstanceOf(RegistryConnectionError);
    expect(e.message).toBe('connection refused by 127.0.0.1:1');
    expect(e.cause).toBe(refused);
    expect(connectionError(Object.assign(new Error('x'), { code: 'ENOTFOUND' }), 'h', 'h').message).toBe(
      'cannot resolve registry host h',
    );
    const tls = connectionError(
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      'h',
      'h',
    );
    expect(tls.message).toBe('TLS handshake with h failed (DEPTH_ZERO_SELF_SIGNED_CERT)');
    expect(tls.hint).toContain('not trusted');
  });
});
