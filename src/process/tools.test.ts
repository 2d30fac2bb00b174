import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeTool, fakeToolsHome } from '../test-support/fake-tools.ts';
import { findTool, toolSearchPlaces, toolsCacheDir } from './tools.ts';

describe('findTool', () => {
  const homes: string[] = [];
  const home = () => {
    const h = fakeToolsHome('canary-mttr-find-tool-');
    homes.push(h.dir);
    return h;
  };
  afterEach(() => {
    for (const dir of homes.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('finds a tool in the cache named by CANARY_MTTR_TOOLS_DIR when it is not on PATH', () => {
    const { dir, env } = home();
    const cache = path.join(dir, 'elsewhere');
    const wrk = fakeTool(path.join(cache, 'bin'), 'wrk', 'echo wrk 4.2.0');
    expect(findTool('wrk', { ...env, CANARY_MTTR_TOOLS_DIR: cache })).toBe(wrk);
    // The default cache under HOME is not where it is: without the variable it is not found.
    expect(findTool('wrk', { PATH: env.PATH, HOME: dir })).toBeUndefined();
    expect(toolsCacheDir({ HOME: dir })).toBe(path.join(dir, '.cache', 'canary-mttr', 'tools'));
  });

  it('takes CANARY_MTTR_<NAME> first, then PATH, then the cache', () => {
    const { dir, bin, env } = home();
    const cache = path.join(dir, 'cache');
    const cached = fakeTool(path.join(cache, 'bin'), 'k6', 'echo cached');
    const onPath = fakeTool(bin, 'k6', 'echo on path');
    const explicit = fakeTool(path.join(dir, 'mine'), 'k6', 'echo mine');
    const withCache = { ...env, CANARY_MTTR_TOOLS_DIR: cache };
    expect(findTool('k6', { ...withCache, CANARY_MTTR_K6: explicit })).toBe(explicit);
    expect(findTool('k6', withCache)).toBe(onPath);
    rmSync(onPath);
    expect(findTool('k6', withCache)).toBe(cached);
  });

  it('says where it looked, naming an explicit path that is not an executable', () => {
    const { dir, env } = home();
    const missing = path.join(dir, 'nothing-here');
    expect(toolSearchPlaces('helm', { ...env, CANARY_MTTR_HELM: missing })).toBe(
      `CANARY_MTTR_HELM=${missing} is not an executable file; not on PATH nor in ${path.join(dir, 'no-tools', 'bin')}`,
    );
    expect(findTool('helm', { ...env, CANARY_MTTR_HELM: missing })).toBeUndefined();
  });
});
