import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KINDS, renderCmPatch } from '../argocd/render-cm-patch.ts';
import { healthPath, renderHealth } from '../argocd/render-health.ts';

const committed = readFileSync(fileURLToPath(new URL('../argocd/argocd-cm-patch.yaml', import.meta.url)), 'utf8');

describe('gitops/argocd/lota.dev/*/health.lua', () => {
  it('are up to date with health-body.lua and the per-kind settings (regenerate with gitops/argocd/render-health.ts)', () => {
    for (const kind of KINDS) expect(readFileSync(healthPath(kind), 'utf8')).toBe(renderHealth(kind));
  });
});

describe('gitops/argocd/argocd-cm-patch.yaml', () => {
  it('is up to date with the Lua health checks (regenerate with gitops/argocd/render-cm-patch.ts)', () => {
    expect(committed).toBe(renderCmPatch());
  });

  it('carries each health check verbatim under the key Argo CD reads', () => {
    const { data } = parse(committed) as { data: Record<string, string> };
    for (const kind of KINDS) {
      const lua = readFileSync(
        fileURLToPath(new URL(`../argocd/lota.dev/${kind}/health.lua`, import.meta.url)),
        'utf8',
      );
      expect(data[`resource.customizations.health.lota.dev_${kind}`]).toBe(lua);
    }
  });
});
