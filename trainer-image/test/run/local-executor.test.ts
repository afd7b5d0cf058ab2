import { describe, expect, it } from 'vitest';
import { LocalExecutor } from '../../src/run/local-executor.ts';
import type { Resource } from '../../src/run/manifest.ts';

const adaptation = (name: string, excludes: string[]) =>
  ({
    apiVersion: 'lota.dev/v1alpha1',
    kind: 'LotaAdaptation',
    metadata: { name },
    spec: {
      baseModel: { uri: 'pvc://m/base' },
      dataset: { uri: 'pvc://d/a.jsonl', format: 'prompt-completion' },
      lota: { sparsity: 0.9, excludeTicketsOf: excludes },
      output: { uri: `pvc://m/${name}` },
    },
  }) as unknown as Resource;

describe('lota run', () => {
  it('fails a LoTTO cycle with DependencyCycle, as the operator does, without starting anything', async () => {
    const executor = new LocalExecutor([adaptation('a', ['b']), adaptation('b', ['a'])], {
      onTransition: () => {},
      onLine: () => {},
    });
    const results = await executor.run();
    for (const { status } of results) {
      expect(status.phase).toBe('Failed');
      expect(status.conditions?.find((c) => c.type === 'Failed')?.reason).toBe('DependencyCycle');
    }
  });
});
