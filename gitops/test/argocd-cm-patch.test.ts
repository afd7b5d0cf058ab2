import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KINDS, renderCmPatch, renderHealth } from '../argocd/render-cm-patch.ts';

const committed = readFileSync(fileURLToPath(new URL('../argocd/argocd-cm-patch.yaml', import.meta.url)), 'utf8');

describe('gitops/argocd/argocd-cm-patch.yaml', () => {
  it('is up to date with the Lua health checks (regenerate with gitops/argocd/render-cm-patch.ts)', () => {
    expect(committed).toBe(renderCmPatch());
  });

  it('carries each health check verbatim under the key Argo CD reads', () => {
    const { data } = parse(committed) as { data: Record<string, string> };
    for (const kind of KINDS) {
      expect(data[`resource.customizations.health.lota.dev_${kind}`]).toBe(renderHealth(kind));
    }
  });
});
