import { defineConfig } from 'vitest/config';

// Property tests (fast-check) draw their cases from this seed, so a run that fails can be repeated:
// fast-check prints the seed with the counterexample; PD_TEST_SEED=<n> pnpm test tries another.
const seed = process.env.PD_TEST_SEED ?? '20261204';
if (!/^-?\d+$/.test(seed)) throw new Error(`PD_TEST_SEED must be an integer, got "${seed}"`);

// Tests import sibling workspace packages from their TypeScript sources (the "@pd/source"
// export condition), so `vitest` never needs a prior build.
export default defineConfig({
  resolve: { conditions: ['@pd/source', 'import', 'default'] },
  ssr: { resolve: { conditions: ['@pd/source', 'import', 'default'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    passWithNoTests: true,
    env: { PD_TEST_SEED: seed },
  },
});
