/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }],
    // @kubernetes/client-node 1.x and two of its dependencies ship ES modules only; Jest's runtime loads
    // CommonJS, so they are compiled like our own code (Node itself loads them as they are).
    '^.+/node_modules/.+\\.m?js$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose|jsonpath-plus|rfc4648)/)'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  // One stack for the whole run, and 2 cores: test files run one after another.
  maxWorkers: 1,
  testTimeout: 120000,
  // Unit tests first (fast feedback), then the ones against real servers.
  testSequencer: '<rootDir>/test/helpers/sequencer.js',
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
};
