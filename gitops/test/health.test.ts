// The Argo CD health checks (gitops/argocd) and Flux's kstatus rules, on status objects made by the operator's own
// status code for every phase of both kinds.
import { describe, expect, it } from 'vitest';
import { tool } from '../../scripts/toolchain.ts';
import { healthScript, runArgoHealth, runHealth, runKstatus } from './lua.ts';
import { adaptationFixtures, type Fixture, mergeFixtures } from './status-fixtures.ts';

const script = healthScript;
const phaseOf = (f: Fixture) => (f.object.status as { phase?: string } | undefined)?.phase;

const kinds = [
  {
    kind: 'LotaAdaptation',
    fixtures: adaptationFixtures(),
    phases: ['Pending', 'Calibrating', 'Training', 'Succeeded', 'Failed', 'Suspended'],
  },
  {
    kind: 'TicketMerge',
    fixtures: mergeFixtures(),
    phases: ['WaitingForTickets', 'Merging', 'Succeeded', 'Failed', 'Suspended'],
  },
];

describe.each(kinds)('Argo CD health of $kind', ({ kind, fixtures, phases }) => {
  it('has a case for every phase the operator writes', () => {
    expect(new Set(fixtures.map(phaseOf).filter((p) => p !== undefined))).toEqual(new Set(phases));
  });

  it.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, fixture) => {
    const health = runHealth(tool('LOTA_LUA'), script(kind), fixture.object);
    expect(health.status).toBe(fixture.argo);
    // Argo CD's own interpreter must agree word for word.
    expect(runArgoHealth(script(kind), [fixture.object])).toEqual([health]);
    expect(health.message).not.toBe('');
    const status = fixture.object.status as { phase?: string; message?: string } | undefined;
    if (fixture.argo === 'Degraded') {
      const failed = (status as { conditions: { type: string; reason: string }[] }).conditions.find(
        (c) => c.type === 'Failed',
      );
      expect(health.message).toContain(failed?.reason);
      expect(health.message).toContain(status?.message);
    }
    if (status?.phase === 'Training' && fixture.name.includes('progress'))
      expect(health.message).toContain('step 30/120');
  });

  it('reports an unknown phase as Unknown, not as healthy', () => {
    const object = { metadata: { generation: 1 }, status: { observedGeneration: 1, phase: 'Exploded' } };
    expect(runHealth(tool('LOTA_LUA'), script(kind), object)).toEqual({
      status: 'Unknown',
      message: 'Unrecognised phase Exploded',
    });
  });
});

describe('Flux / kstatus', () => {
  it.each(kinds)('computes the expected status for every phase of $kind', ({ fixtures }) => {
    const got = runKstatus(fixtures.map((f) => f.object)).map((status, i) => ({ name: fixtures[i]?.name, status }));
    expect(got).toEqual(fixtures.map((f) => ({ name: f.name, status: f.kstatus })));
  });
});
