import { readFileSync } from 'node:fs';
import { afterEach, expect, test, vi } from 'vitest';
import { digestOf } from '../src/index.js';

const example = readFileSync(new URL('../examples/resolve.ts', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

afterEach(() => {
  vi.restoreAllMocks();
});

test('the README shows the example file as it is', () => {
  expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
});

test('the example runs and prints what its comments say', async () => {
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.join(' '));
  });
  await import('../examples/resolve.js');
  expect(lines).toEqual([
    'docker.io/library/ubuntu:24.04',
    `ubuntu:24.04@${digestOf('{"schemaVersion":2,"arm":1}')}`,
    'application/vnd.oci.image.manifest.v1+json',
    'invalid image manifest: $.config.digest: expected a digest like sha256:<64 hex>, got "abc" (not of the form algorithm:hex)',
  ]);
});
