/**
 * The import rules that keep the layout honest (run by `npm run lint`): dependencies
 * point from apps to packages, never back; the model runtime knows nothing of queues or
 * HTTP; the shared contracts know nothing of models or of the API; every package is used
 * through its declared exports and declares what it imports; test helpers stay in tests.
 */
const TESTS = '(\\.test\\.ts$|/testing/|^tests/|^bench/|^scripts/|^deploy/)';
/** Workspace packages resolve through their node_modules links (symlinks are kept, so imports by name show as such). */
const WS = '^node_modules/@glm-image/';
const APPS = '(api|planner-worker|decoder-worker|evaluator-worker)';

module.exports = {
  forbidden: [
    {
      name: 'packages-never-import-apps',
      comment: 'Apps are deployables built on the packages; a package that needs an app has the cut wrong.',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: ['^apps/', `${WS}${APPS}/`] },
    },
    {
      name: 'apps-do-not-import-each-other',
      comment: 'Each app is its own process; what two of them share belongs in a package.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: ['^apps/', `${WS}${APPS}/`], pathNot: ['^apps/$1/', `${WS}$1/`] },
    },
    {
      name: 'inference-knows-no-queues-or-http',
      comment:
        'The model runtime runs on its own (the generate command): no Redis, no queues, no HTTP, ' +
        'and of the shared package only the contracts it implements (errors, tokens, formats).',
      severity: 'error',
      from: { path: '^packages/inference/' },
      to: {
        path: [
          '^node_modules/(bullmq|ioredis|fastify|@fastify|undici|@aws-sdk)/',
          `${WS}(worker-runtime|testing)/`,
          `${WS}shared/src/(?!errors\\.ts$|tokens\\.ts$|formats\\.ts$)`,
        ],
      },
    },
    {
      name: 'shared-holds-contracts-only',
      comment:
        'packages/shared is what every process agrees on: nothing of models, of HTTP servers or of the API.',
      severity: 'error',
      from: { path: '^packages/shared/', pathNot: '\\.test\\.ts$' },
      to: {
        path: [
          '^node_modules/(fastify|@fastify|fastify-plugin|onnxruntime-node|sharp|standardwebhooks|ipaddr\\.js)/',
          `${WS}(inference|worker-runtime|testing)/`,
          `${WS}${APPS}/`,
        ],
      },
    },
    {
      name: 'packages-through-their-exports',
      comment: 'Reach another package through its name and exports, never into its files by a relative path.',
      severity: 'error',
      from: { path: '^(apps|packages)/([^/]+)/' },
      to: { path: '^(apps|packages)/', pathNot: '^(apps|packages)/$2/', dependencyTypes: ['local'] },
    },
    {
      name: 'test-helpers-stay-in-tests',
      comment:
        'Test fixtures (servers on free ports, scripted receivers) are not part of any running process.',
      severity: 'error',
      from: { pathNot: TESTS },
      to: { path: ['^packages/testing/', `${WS}testing/`, '/testing/'] },
    },
    {
      name: 'declared-dependencies-only',
      comment: "Every import resolves to a dependency of the importing package's own package.json.",
      severity: 'error',
      from: { path: '^(apps|packages)/' },
      // The test runner is the repository's, not each package's.
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'], pathNot: '^node_modules/vitest/' },
    },
    {
      name: 'no-unresolvable-imports',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-circular',
      comment: 'A cycle means two files hold one idea between them.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^model-packs/' },
    preserveSymlinks: true,
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      mainFields: ['module', 'main', 'types', 'typings'],
      extensions: ['.ts', '.mjs', '.js', '.json'],
    },
  },
};
