// pnpm hooks. beforePacking shapes the package.json that `pnpm pack` and `pnpm publish` put in a
// tarball: users get what they need to install and import a package, nothing of the monorepo.
// - `scripts` run the monorepo's build and tests (tsc, esbuild, vitest), none of which a user has;
// - `devDependencies` name tools and the private @pd/test-fixtures, which is never published;
// - the `@pd/source` export condition points tests at TypeScript sources; users resolve dist/.
function withoutSourceCondition(exports) {
  if (exports === null || typeof exports !== 'object') return exports;
  const out = {};
  for (const [key, value] of Object.entries(exports)) {
    if (key !== '@pd/source') out[key] = withoutSourceCondition(value);
  }
  return out;
}

module.exports = {
  hooks: {
    beforePacking(pkg) {
      delete pkg.scripts;
      delete pkg.devDependencies;
      if (pkg.exports) pkg.exports = withoutSourceCondition(pkg.exports);
      return pkg;
    },
  },
};
