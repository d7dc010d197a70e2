import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native code runs in forked processes (node-llama-cpp's habit): a native fault fails one file, not the run.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores in CI: files that run whole networks would only fight over them.
    fileParallelism: false,
  },
});
