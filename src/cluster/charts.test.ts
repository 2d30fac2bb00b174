import { describe, expect, it } from 'vitest';
import { PlatformError } from '../common/errors.ts';
import { requireHelm } from '../kube/helm.ts';

// The charts themselves go through the real helm in charts.tools.test.ts (npm run test:tools).
describe('helm lookup', () => {
  it('without helm, says to run npm run tools:install', () => {
    const env = { PATH: '/nonexistent', CANARY_MTTR_TOOLS_DIR: '/nonexistent/tools' };
    expect(() => requireHelm(env)).toThrow(PlatformError);
    expect(() => requireHelm(env)).toThrow(
      'helm not found (not on PATH nor in /nonexistent/tools/bin); run npm run tools:install first, or set CANARY_MTTR_HELM',
    );
  });
});
