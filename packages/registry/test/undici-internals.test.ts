import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadIndex, loadInternal, undiciCore } from '../src/transport/undici.js';

const require = createRequire(import.meta.url);
/** The range @pd/registry declares for undici (in the workspace, the catalog entry its manifest names). */
function declaredRange(): string {
  const spec = (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
    }
  ).dependencies.undici!;
  if (spec !== 'catalog:') return spec;
  const workspace = readFileSync(new URL('../../../pnpm-workspace.yaml', import.meta.url), 'utf8');
  return /^\s+undici:\s*(\S+)/m.exec(workspace)![1]!;
}
const declared = declaredRange();

// The transport loads undici's Agent and request() from files inside the package (a measured
// ~85 ms less start-up than its index). These tests fail when the undici installed (the lockfile's,
// or the newest of the range that the registry consumer test installs) has moved them.
describe('undici internals the transport loads', () => {
  it('the installed undici is in the declared range', () => {
    const version = (require('undici/package.json') as { version: string }).version;
    expect(declared).toMatch(/^\^7\.\d+\.\d+$/);
    const [major, minor, patch] = version.split('.').map(Number);
    const [, lMinor, lPatch] = declared.slice(1).split('.').map(Number);
    expect(major).toBe(7);
    expect(minor! > lMinor! || (minor === lMinor && patch! >= lPatch!)).toBe(true);
  });

  it('are the very Agent and request() that the public index exports', async () => {
    const internal = await loadInternal();
    expect(internal?.via).toBe('internal-modules');
    const undici = await import('undici');
    expect(internal!.Agent).toBe(undici.Agent);
    const requestModule = (await import('undici/lib/api/api-request.js')).default;
    expect(requestModule).toBe(undici.Dispatcher.prototype.request);
    expect((await undiciCore()).via).toBe('internal-modules');
  });

  it('the index fallback offers the same Agent', async () => {
    const index = await loadIndex();
    expect(index.Agent).toBe((await loadInternal())!.Agent);
    expect(index.via).toBe('index');
  });
});
