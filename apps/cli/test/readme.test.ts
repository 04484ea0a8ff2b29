import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_DIR, isolatedEnv, PD_MAIN } from './helpers.js';

const ROOT = join(CLI_DIR, '..', '..');

describe('README example', () => {
  const iso = isolatedEnv();
  afterAll(() => iso.cleanup());

  it('runs as written, with pd being the built CLI', () => {
    const readme = readFileSync(join(CLI_DIR, 'README.md'), 'utf8');
    const block = /```bash\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const out = execFileSync('bash', ['-c', `pd() { node ${JSON.stringify(PD_MAIN)} "$@"; }\n${block}`], {
      cwd: ROOT,
      env: iso.env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(out).toMatch(/^-rwxr-xr-x 0\/0 +\d+ 1970-01-01 00:00 app\/hello\.sh$/m);
    expect(out).toContain('"/app/hello.sh"');
    expect(out).toMatch(/^app\/hello\.sh$/m);
    expect(out).toMatch(/^etc\/pd-example\/name$/m);
  });
});
