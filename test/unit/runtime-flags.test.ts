// Which runtime flags the relaunch adds (src/runtime-flags.ts): only those not given already.
import { describe, expect, it } from '@jest/globals';
import { FLAGS_ENV, missingFlags, RUNTIME_FLAGS, wantedFlags } from '../../src/runtime-flags.js';

describe('missingFlags', () => {
  it.each([
    { name: 'nothing given: all', execArgv: [], nodeOptions: '', expected: ['--a=1', '--b'] },
    { name: 'given on the command line', execArgv: ['--a=2'], nodeOptions: '', expected: ['--b'] },
    { name: 'given in NODE_OPTIONS', execArgv: [], nodeOptions: ' --b  --c ', expected: ['--a=1'] },
    { name: 'both given', execArgv: ['--a'], nodeOptions: '--b', expected: [] },
  ])('$name', ({ execArgv, nodeOptions, expected }) => {
    expect(missingFlags(['--a=1', '--b'], execArgv, nodeOptions)).toEqual(expected);
  });

  it('treats --max_semi_space_size as --max-semi-space-size', () => {
    expect(missingFlags(['--max-semi-space-size=1'], ['--max_semi_space_size=4'])).toEqual([]);
  });
});

describe('wantedFlags', () => {
  it.each([
    { name: 'default', env: {}, expected: [...RUNTIME_FLAGS] },
    { name: 'replaced', env: { [FLAGS_ENV]: ' --x  --y=2 ' }, expected: ['--x', '--y=2'] },
    { name: 'none', env: { [FLAGS_ENV]: '' }, expected: [] },
  ])('$name', ({ env, expected }) => {
    expect(wantedFlags(env)).toEqual(expected);
  });
});
