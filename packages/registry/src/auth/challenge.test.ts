import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { AuthError } from '../errors.js';
import { challengesOf, parseChallenges, pickChallenge, UnsupportedAuthSchemeError } from './challenge.js';

// Every property runs from one seed, PD_TEST_SEED (fixed in vitest.shared.ts; set it to try
// another): fast-check prints it with a failure, so the run can be repeated exactly.
fc.configureGlobal({ seed: Number(process.env.PD_TEST_SEED) });

describe('parseChallenges', () => {
  test('Docker Hub bearer challenge with scope and error', () => {
    const h =
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull,push",error="insufficient_scope"';
    expect(parseChallenges(h)).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/ubuntu:pull,push',
          error: 'insufficient_scope',
        },
      },
    ]);
  });

  test('several challenges, unquoted values, odd spacing, escapes', () => {
    const h =
      'Basic realm="Registry Realm", Bearer  realm=https://r/t , service = "a \\"quoted\\" one" ,Negotiate abc==';
    expect(parseChallenges(h)).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://r/t', service: 'a "quoted" one' } },
      { scheme: 'negotiate', params: {} },
    ]);
    expect(pickChallenge(parseChallenges(h))?.scheme).toBe('bearer');
  });

  test('every header line counts, not only the first (HTTP clients hand repeated headers over as an array)', () => {
    const lines = ['Negotiate', 'Bearer realm="https://r/t",service="reg"', 'Basic realm="x", NTLM'];
    expect(parseChallenges(lines).map((c) => c.scheme)).toEqual(['negotiate', 'bearer', 'basic', 'ntlm']);
    expect(pickChallenge(parseChallenges(lines))).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://r/t', service: 'reg' },
    });
    expect(challengesOf({ 'www-authenticate': lines, 'content-type': 'x' })).toEqual(parseChallenges(lines));
    expect(challengesOf({ 'www-authenticate': 'Negotiate, Basic realm="x"' }).map((c) => c.scheme)).toEqual([
      'negotiate',
      'basic',
    ]);
    expect(challengesOf({})).toEqual([]);
    expect(parseChallenges([])).toEqual([]);
  });

  test('UnsupportedAuthSchemeError names the offered schemes once each', () => {
    const e = new UnsupportedAuthSchemeError(
      'pull of r/x',
      'reg.example',
      parseChallenges(['Negotiate', 'NTLM, Negotiate abc==']),
    );
    expect(e).toBeInstanceOf(AuthError);
    expect(e.schemes).toEqual(['negotiate', 'ntlm']);
    expect(e.code).toBe('AUTH_SCHEME_UNSUPPORTED');
    expect(e.message).toBe(
      'pull of r/x: reg.example asks for authentication with negotiate, ntlm, which pd does not support',
    );
  });

  test('absent or empty header', () => {
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
    expect(pickChallenge([{ scheme: 'negotiate', params: {} }])).toBeUndefined();
  });

  test('property: quoted parameters survive any content', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);
    const value = fc.string({ maxLength: 40 });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(name, value), { minLength: 1, maxLength: 5, selector: (t) => t[0] }),
        (params) => {
          const header = `Bearer ${params.map(([k, v]) => `${k}="${v.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(', ')}`;
          const [c] = parseChallenges(header);
          expect(c?.scheme).toBe('bearer');
          expect(c?.params).toEqual(Object.fromEntries(params));
        },
      ),
    );
  });
});
