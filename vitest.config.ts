import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['api/test/**/*.test.ts', 'operator/test/**/*.test.ts', 'trainer-image/test/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
    ],
  },
});
