// The trainer's layering (dependency-rules.json), checked with dependency-cruiser over src/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const rules = JSON.parse(readFileSync(join(root, 'dependency-rules.json'), 'utf8'));

describe('trainer layering', () => {
  let result: ICruiseResult;
  beforeAll(async () => {
    const cwd = process.cwd();
    process.chdir(root); // dependency-cruiser reports paths relative to the working directory
    try {
      const reported = await cruise(['src'], {
        validate: true,
        ruleSet: rules,
        tsPreCompilationDeps: true,
        doNotFollow: { path: 'node_modules' },
        exclude: { path: 'node_modules' },
      });
      result = reported.output as ICruiseResult;
    } finally {
      process.chdir(cwd);
    }
  });

  it('sees the whole source tree', () => {
    const folders = new Set(result.modules.map((m) => m.source.split('/')[1]));
    for (const folder of ['io', 'model', 'data', 'lota', 'train', 'tokenizer', 'merge', 'phases', 'cli', 'run'])
      expect(folders).toContain(folder);
  });

  it('has no import cycles and no import from a higher folder', () => {
    const violations = result.summary.violations.map(
      (v) => `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (${v.cycle.map((c) => c.name).join(' → ')})` : ''}`,
    );
    expect(violations).toEqual([]);
  });
});
