import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** PEM files of a certificate and its private key. */
export interface CertificateFiles {
  certificate: string;
  key: string;
}

/**
 * A self-signed certificate made by openssl (an independent tool, so no test trusts pd's own
 * crypto), RSA 2048, valid two days, written as `cert.pem` and `key.pem` into `dir`. `subject`
 * is the common name; `altNames` the subjectAltName entries (`DNS:localhost`, `IP:127.0.0.1`).
 */
export function selfSignedCertificate(
  dir: string,
  subject: string,
  altNames: string[] = [],
): CertificateFiles {
  const files = { certificate: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', files.key, '-out', files.certificate],
      ...['-days', '2', '-subj', `/CN=${subject}`],
      ...(altNames.length > 0 ? ['-addext', `subjectAltName=${altNames.join(',')}`] : []),
    ],
    { stdio: 'ignore' },
  );
  return files;
}
