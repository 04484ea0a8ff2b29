import { PdError } from '@pd/oci-types';
import { describe, expect, it } from 'vitest';
import { describeError, redact, registerSecret, UsageError } from './errors.js';

describe('describeError', () => {
  it('prints message and hint on one line; usage errors exit 2, others 1', () => {
    expect(describeError(new PdError('thing failed\nbadly', { hint: 'do this' }))).toEqual({
      line: 'pd: thing failed badly (do this)',
      exitCode: 1,
    });
    expect(describeError(new UsageError('missing argument REF')).exitCode).toBe(2);
  });

  it('explains system errors', () => {
    const e = Object.assign(new Error("ENOENT: no such file or directory, open '/x/y'"), {
      code: 'ENOENT',
      syscall: 'open',
      path: '/x/y',
    });
    expect(describeError(e).line).toBe('pd: cannot open /x/y: no such file or directory (check the path)');
  });

  it('names the output, not the temporary file beside it, and says what to do', () => {
    const sys = (code: string, path: string) =>
      Object.assign(new Error(`${code}: x, open '${path}'`), { code, syscall: 'open', path });
    expect(describeError(sys('ENOENT', '/nonexistent/dir/.x.tar.4242.2dbf4abdb4e1.pd-tmp')).line).toBe(
      'pd: cannot write /nonexistent/dir/x.tar: its directory does not exist (create the directory first, or choose another path)',
    );
    expect(describeError(sys('EACCES', '/ro/.out.2.tar.77.mx9npkzv.tmp')).line).toBe(
      'pd: cannot write /ro/out.2.tar: permission denied (choose a directory you may write to)',
    );
    expect(describeError(sys('ENOSPC', '/d/.a.tar.2dbf4abdb4e1.pd-tmp')).line).toMatch(
      /^pd: cannot write \/d\/a\.tar: no space left on device \(/,
    );
  });

  it('an error that carries a documented exit code keeps it (docker’s 125, 126, 127 for pd run)', () => {
    const start = Object.assign(new PdError('runc could not start the container: exec: "x": not found'), {
      exitCode: 127,
    });
    expect(describeError(start).exitCode).toBe(127);
    expect(describeError(Object.assign(new PdError('x'), { exitCode: 126 })).exitCode).toBe(126);
    expect(describeError(Object.assign(new PdError('x'), { exitCode: 'no' })).exitCode).toBe(1);
  });

  it('an abort is an interruption (exit 130)', () => {
    const e = new Error('aborted');
    e.name = 'AbortError';
    expect(describeError(e)).toEqual({ line: 'pd: interrupted', exitCode: 130 });
  });
});

describe('redact', () => {
  it('removes credentials shapes and registered secrets', () => {
    registerSecret('hunter2hunter2');
    expect(redact('Authorization: Bearer eyJhbGciOi.abc.def')).toBe('Authorization: Bearer ***');
    expect(redact('https://user:pa55@host/v2/')).toBe('https://user:***@host/v2/');
    expect(redact('GET /token?service=x&refresh_token=abc&x=1')).toBe(
      'GET /token?service=x&refresh_token=***&x=1',
    );
    expect(redact('the password hunter2hunter2 leaked')).toBe('the password *** leaked');
  });
});
