import { defineConfig } from 'vitest/config';

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
  },
});
