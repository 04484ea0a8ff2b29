import { PdError } from '@pd/oci-types';

/** The answer of `docker-credential-<name> get`. */
export interface HelperCredential {
  username: string;
  secret: string;
}

/** A credential helper failed for a reason other than "no credentials stored". */
export class CredentialHelperError extends PdError {
  readonly helper: string;
  constructor(helper: string, problem: string, hint?: string) {
    super(`credential helper docker-credential-${helper} ${problem}`, {
      code: 'CREDENTIAL_HELPER_FAILED',
      hint: hint ?? `check the helper's configuration (credsStore / credHelpers in docker's config.json)`,
    });
    this.helper = helper;
  }
}

// The helpers' own "nothing stored" answers (docker-credential-helpers' credentials.ErrCredentialsNotFound).
const NOT_FOUND = /credentials not found|no credentials|not found in native keychain/i;

function run(
  helper: string,
  action: 'get' | 'store' | 'erase',
  input: string,
  signal?: AbortSignal,
): Promise<{ stdout: string; stderr: string; failed: boolean; missing: boolean }> {
  return new Promise((resolve, reject) => {
    const child = process
      .getBuiltinModule('node:child_process')
      .execFile(
        `docker-credential-${helper}`,
        [action],
        { timeout: 30_000, maxBuffer: 1 << 20, encoding: 'utf8', ...(signal ? { signal } : {}) },
        (err, stdout, stderr) => {
          if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
            resolve({ stdout: '', stderr: '', failed: true, missing: true });
            return;
          }
          if (err && signal?.aborted) {
            reject(signal.reason);
            return;
          }
          resolve({ stdout, stderr, failed: err !== null, missing: false });
        },
      );
    child.stdin?.on('error', () => {
      // the helper may exit before reading; its exit status tells what happened
    });
    child.stdin?.end(input);
  });
}

function missing(helper: string): CredentialHelperError {
  return new CredentialHelperError(
    helper,
    'is not installed',
    `put docker-credential-${helper} on PATH or remove it from docker's config.json`,
  );
}

/**
 * Ask a helper for the credentials of `serverUrl`; undefined when it has none. Helper output is
 * never quoted in errors: it may hold the secret.
 */
export async function helperGet(
  helper: string,
  serverUrl: string,
  signal?: AbortSignal,
): Promise<HelperCredential | undefined> {
  const r = await run(helper, 'get', serverUrl, signal);
  if (r.missing) throw missing(helper);
  if (r.failed) {
    if (NOT_FOUND.test(r.stdout) || NOT_FOUND.test(r.stderr)) return undefined;
    throw new CredentialHelperError(helper, `failed to get credentials for ${serverUrl}`);
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(r.stdout) as { Username?: unknown; Secret?: unknown };
  } catch {
    throw new CredentialHelperError(helper, `returned malformed output for ${serverUrl}`);
  }
  if (typeof parsed.Secret !== 'string' || parsed.Secret === '') return undefined;
  return { username: typeof parsed.Username === 'string' ? parsed.Username : '', secret: parsed.Secret };
}

export async function helperStore(
  helper: string,
  serverUrl: string,
  credential: HelperCredential,
  signal?: AbortSignal,
): Promise<void> {
  const input = JSON.stringify({
    ServerURL: serverUrl,
    Username: credential.username,
    Secret: credential.secret,
  });
  const r = await run(helper, 'store', input, signal);
  if (r.missing) throw missing(helper);
  if (r.failed) throw new CredentialHelperError(helper, `failed to store credentials for ${serverUrl}`);
}

/** Erase; true when the helper had something to erase. */
export async function helperErase(helper: string, serverUrl: string, signal?: AbortSignal): Promise<boolean> {
  const r = await run(helper, 'erase', serverUrl, signal);
  if (r.missing) throw missing(helper);
  if (r.failed) {
    if (NOT_FOUND.test(r.stdout) || NOT_FOUND.test(r.stderr)) return false;
    throw new CredentialHelperError(helper, `failed to erase credentials for ${serverUrl}`);
  }
  return true;
}
