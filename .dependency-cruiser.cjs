/**
 * The layer rule of docs/architecture.md, checked by `npm run lint:deps` (part of `npm test`).
 *
 * - Product code never imports the cluster tooling (src/cluster, src/fidelity).
 * - Shared code (src/process, src/kube) is used by both sides and imports neither: only common/.
 * - No file outside the tests imports src/test-support/.
 * - No import cycle between folders.
 *
 * Test files are not cruised: a test may reach across layers to set up what it tests (the cluster
 * tier's tests start a local control plane), and test-support/ imports the product it drives.
 */
const PRODUCT =
  '^src/(experiment|platform|mesh|metrics|flagger-model|operator|load|timeline|stats|report|scenario|cli|common)/';
const CLUSTER_TOOLING = '^src/(cluster|fidelity)/';
const SHARED = '^src/(process|kube)/';

module.exports = {
  forbidden: [
    {
      name: 'product-imports-cluster-tooling',
      comment:
        'Product code must not import src/cluster or src/fidelity. Shared process code goes in src/process/, ' +
        'shared Kubernetes code in src/kube/ (docs/architecture.md).',
      severity: 'error',
      from: { path: PRODUCT },
      to: { path: CLUSTER_TOOLING },
    },
    {
      name: 'shared-imports-a-side',
      comment: 'src/process and src/kube are used by the product and the cluster tooling; they import only src/common.',
      severity: 'error',
      from: { path: SHARED },
      to: { path: '^src/', pathNot: ['^src/(process|kube|common)/'] },
    },
    {
      name: 'test-support-outside-tests',
      comment: 'src/test-support/ is for *.test.ts files; code that runs outside the tests must not need it.',
      severity: 'error',
      from: { path: '^(src|bench)/', pathNot: '^src/test-support/' },
      to: { path: '^src/test-support/' },
    },
    {
      name: 'no-folder-cycle',
      comment: 'Two folders that import each other are one folder in disguise: move the shared part down.',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['node_modules', '\\.d\\.ts$', '\\.test\\.ts$'] },
    includeOnly: ['^src/', '^bench/', '^faulty-app/'],
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
