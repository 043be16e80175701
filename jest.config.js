// Two projects: `unit` (pure code, no cluster) and `integration` (one real control plane per run).
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};

export default {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/jest-global-setup.mjs',
      globalTeardown: '<rootDir>/test/harness/jest-global-teardown.mjs',
      setupFilesAfterEnv: ['<rootDir>/test/harness/jest-integration-env.ts'],
    },
  ],
};
