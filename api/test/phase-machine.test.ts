import { describe, expect, it } from 'vitest';
import {
  adaptationPlan,
  conditionReason,
  type MachineStatus,
  mergePlan,
  nextState,
  type Observations,
  type Phase,
  type PhaseObservation,
  type Plan,
} from '../src/phase-machine.ts';
import type { TerminationMessage, TrainerPhase } from '../src/trainer-contract.ts';

const T0 = new Date('2026-11-27T04:00:00Z');
const later = (s: number) => new Date(T0.getTime() + s * 1000);

const lota = (extra: Partial<Parameters<typeof adaptationPlan>[1]> = {}) =>
  adaptationPlan({ name: 'task-a', generation: 1 }, { method: 'lota', backoffLimit: 2, ...extra });

function observe(
  phases: Partial<Record<TrainerPhase, PhaseObservation>> = {},
  dependencies: Observations['dependencies'] = {},
  now = T0,
): Observations {
  return { phases, dependencies, now };
}

const mask = { trainable: 10, total: 100, density: 0.1, uri: 'pvc://models/a/mask.safetensors' };
const ticket = { uri: 'pvc://models/a/ticket.safetensors', bytes: 330, density: 0.1, sha256: 'ab' };

function done(phase: TrainerPhase, extra: Partial<TerminationMessage> = {}): PhaseObservation {
  const defaults: Partial<TerminationMessage> =
    phase === 'calibrate'
      ? { mask }
      : phase === 'train'
        ? { ticket, results: { trainLoss: 0.4, evalLoss: 0.5 } }
        : {
            output: { uri: 'pvc://models/m', bytes: 1000, sha256: 'cd' },
            interference: {
              tickets: 2,
              overlappingEntries: 3,
              overlapFraction: 0.01,
              signConflicts: 1,
              maxPairwiseJaccard: 0.02,
            },
          };
  return {
    state: 'Succeeded',
    termination: {
      version: 1,
      phase,
      outcome: 'Succeeded',
      reason: 'Completed',
      message: `${phase} done`,
      ...defaults,
      ...extra,
    },
  };
}

function failed(failures: number, permanent: boolean, reason = 'InternalError', exitCode = 1): PhaseObservation {
  return { state: 'Failed', failures, permanent, reason, message: 'boom', exitCode };
}

function cond(status: MachineStatus | undefined, type: string) {
  return status?.conditions?.find((c) => c.type === type);
}

/** Runs the machine over a sequence of observations, feeding each status into the next step. */
function run(plan: Plan, steps: Observations[], start?: MachineStatus) {
  let status = start;
  const out = [];
  for (const o of steps) {
    const t = nextState(plan, status, o);
    status = t.status;
    out.push(t);
  }
  return out;
}

describe('plans', () => {
  it('calibrates before training only for method lota', () => {
    expect(lota().phases).toEqual(['calibrate', 'train']);
    expect(adaptationPlan({ name: 'f' }, { method: 'full' }).phases).toEqual(['train']);
    expect(adaptationPlan({ name: 'l' }, { method: 'lora' }).phases).toEqual(['train']);
    expect(mergePlan({ name: 'm' }, { tickets: [{ uri: 'pvc://x/t' }] }).phases).toEqual(['merge']);
  });

  it('collects dependencies from excludeTicketsOf and adaptationRefs, once each', () => {
    expect(lota({ lota: { excludeTicketsOf: ['a', 'b', 'a'] } }).dependencies).toEqual(['a', 'b']);
    const m = mergePlan(
      { name: 'm' },
      { tickets: [{ adaptationRef: 'a' }, { adaptationRef: { name: 'b' } }, { uri: 'pvc://x/t' }] },
    );
    expect(m.dependencies).toEqual(['a', 'b']);
  });
});

describe('LotaAdaptation happy path', () => {
  it('calibrates, trains and succeeds, copying mask, ticket and results', () => {
    const [t1, t2, t3, t4, t5] = run(lota(), [
      observe(),
      observe(
        {
          calibrate: {
            state: 'Running',
            progress: { phase: 'calibrate', step: 5, totalSteps: 10, percent: 50, loss: 1.25 },
          },
        },
        {},
        later(10),
      ),
      observe({ calibrate: done('calibrate') }, {}, later(20)),
      observe({ calibrate: done('calibrate'), train: { state: 'Running' } }, {}, later(30)),
      observe({ calibrate: done('calibrate'), train: done('train') }, {}, later(40)),
    ]);
    expect(t1?.action).toMatchObject({ type: 'start', phase: 'calibrate', ticketRefs: {} });
    expect(t1?.status).toMatchObject({
      phase: 'Calibrating',
      startTime: '2026-11-27T04:00:00Z',
      attempts: { calibrate: 0 }, // started; pods are counted when observed
      observedGeneration: 1,
    });
    expect(t1?.events).toEqual([{ type: 'Normal', reason: 'Calibrating', message: 'phase calibrate started' }]);
    expect(cond(t1?.status, 'Reconciling')?.status).toBe('True');
    expect(cond(t1?.status, 'Succeeded')?.status).toBe('Unknown');

    expect(t2?.action).toEqual({ type: 'wait' });
    expect(t2?.status.progress?.percent).toBe(50);
    expect(t2?.status.message).toBe('phase calibrate: step 5/10 (50%), loss 1.250');
    expect(t2?.events).toEqual([]);

    expect(t3?.action).toMatchObject({ type: 'start', phase: 'train', ticketRefs: {} });
    expect(t3?.status).toMatchObject({ phase: 'Training', mask, attempts: { calibrate: 1, train: 0 } });
    expect(t3?.events.map((e) => e.reason)).toEqual(['Training']);

    expect(t4?.status.phase).toBe('Training');
    expect(t5?.action).toEqual({ type: 'none' });
    expect(t5?.status).toMatchObject({
      phase: 'Succeeded',
      mask,
      ticket,
      results: { trainLoss: 0.4, evalLoss: 0.5 },
      completionTime: '2026-11-27T04:00:40Z',
      startTime: '2026-11-27T04:00:00Z',
    });
    expect(t5?.status.progress).toBeUndefined();
    const want = { Ready: 'True', Succeeded: 'True', Failed: 'False', Reconciling: 'False', Stalled: 'False' };
    for (const [type, s] of Object.entries(want)) expect(cond(t5?.status, type)?.status, type).toBe(s);
    expect(cond(t5?.status, 'Ready')?.lastTransitionTime).toBe('2026-11-27T04:00:40Z');
  });

  it('trains directly for full and lora', () => {
    for (const method of ['full', 'lora'] as const) {
      const plan = adaptationPlan({ name: 'x', generation: 3 }, { method });
      const t = nextState(plan, undefined, observe());
      expect(t.action).toMatchObject({ type: 'start', phase: 'train', ticketRefs: {} });
      expect(t.status.phase).toBe('Training');
      const end = nextState(plan, t.status, observe({ train: done('train', { ticket: undefined }) }));
      expect(end.status.phase).toBe('Succeeded');
    }
  });

  it('shows a Job held by a queue as Queued without leaving the phase', () => {
    const t = nextState(lota(), undefined, observe({ calibrate: { state: 'Queued', message: 'Kueue: no quota' } }));
    expect(t.status.phase).toBe('Calibrating');
    expect(cond(t.status, 'Ready')?.reason).toBe('Queued');
    expect(t.status.message).toContain('Kueue: no quota');
    expect(t.action).toEqual({ type: 'wait' });
  });

  it('remembers a finished calibration after its Job is gone (TTL) and never runs it twice', () => {
    const [, t] = run(lota(), [observe({ calibrate: done('calibrate') }), observe({ train: { state: 'Running' } })]);
    expect(t?.status.phase).toBe('Training');
    expect(t?.action).toEqual({ type: 'wait' });
  });

  it('stays Succeeded when the Jobs disappear afterwards', () => {
    const [, t] = run(adaptationPlan({ name: 'x' }, { method: 'full' }), [
      observe({ train: done('train') }),
      observe(),
    ]);
    expect(t?.status.phase).toBe('Succeeded');
    expect(t?.action).toEqual({ type: 'none' });
    expect(t?.events).toEqual([]);
  });

  it('keeps lastTransitionTime and foreign conditions when nothing changes', () => {
    const start: MachineStatus = {
      conditions: [
        { type: 'Custom', status: 'True', reason: 'X', message: '', lastTransitionTime: '2020-01-01T00:00:00Z' },
      ],
    };
    const [t1, t2] = run(lota(), [observe(), observe({ calibrate: { state: 'Running' } }, {}, later(60))], start);
    expect(cond(t2?.status, 'Reconciling')?.lastTransitionTime).toBe(
      cond(t1?.status, 'Reconciling')?.lastTransitionTime,
    );
    expect(cond(t2?.status, 'Custom')?.reason).toBe('X');
  });
});

describe('failures', () => {
  const running = (s: Partial<MachineStatus> = {}): MachineStatus => ({
    phase: 'Calibrating',
    startTime: '2026-11-27T04:00:00Z',
    ...s,
  });

  it('fails at once on a permanent trainer error, naming its reason and exit code', () => {
    const t = nextState(lota(), running(), observe({ calibrate: failed(1, true, 'InvalidDataset', 11) }));
    expect(t.status.phase).toBe('Failed');
    expect(cond(t.status, 'Failed')).toMatchObject({ status: 'True', reason: 'InvalidDataset' });
    expect(cond(t.status, 'Stalled')?.status).toBe('True');
    expect(cond(t.status, 'Succeeded')?.status).toBe('False');
    expect(cond(t.status, 'Ready')?.status).toBe('False');
    expect(t.status.message).toBe('phase calibrate failed (exit code 11): boom');
    expect(t.events).toEqual([{ type: 'Warning', reason: 'InvalidDataset', message: t.status.message }]);
    expect(t.status.completionTime).toBe('2026-11-27T04:00:00Z');
    expect(t.action).toEqual({ type: 'none' });
  });

  it('retries a retryable failure within backoffLimit, then fails with BackoffLimitExceeded', () => {
    const plan = lota(); // backoffLimit 2
    const [r1, r2, r3] = run(
      plan,
      [
        observe({ calibrate: failed(1, false) }),
        observe({ calibrate: failed(2, false) }),
        observe({ calibrate: failed(3, false, 'TransientIOError', 20) }),
      ],
      running({ attempts: { calibrate: 1 } }),
    );
    expect(r1?.action).toMatchObject({ type: 'start', phase: 'calibrate', ticketRefs: {} });
    expect(r1?.status.attempts).toEqual({ calibrate: 2 });
    expect(r1?.events[0]).toMatchObject({ type: 'Warning', reason: 'Retrying' });
    expect(r1?.status.phase).toBe('Calibrating');
    expect(r2?.status.attempts).toEqual({ calibrate: 3 });
    expect(r3?.status.phase).toBe('Failed');
    expect(cond(r3?.status, 'Failed')?.reason).toBe('BackoffLimitExceeded');
    expect(r3?.status.message).toContain('failed 3 times, more than backoffLimit=2; last (exit code 20)');
  });

  it('counts attempts from a running retry without double counting', () => {
    const t = nextState(
      lota(),
      running({ attempts: { calibrate: 2 } }),
      observe({ calibrate: { state: 'Running', failures: 1 } }),
    );
    expect(t.status.attempts).toEqual({ calibrate: 2 });
    const pods = nextState(
      lota(),
      running({ attempts: { calibrate: 2 } }),
      observe({ calibrate: { state: 'Running', failures: 1, attempts: 4 } }),
    );
    expect(pods.status.attempts).toEqual({ calibrate: 4 });
  });

  it('fails a permanently failed Job as reported (e.g. a Job deadline)', () => {
    const t = nextState(
      lota(),
      running({ phase: 'Training', mask }),
      observe({ train: failed(0, true, 'DeadlineExceeded', 137) }),
    );
    expect(cond(t.status, 'Failed')?.reason).toBe('DeadlineExceeded');
  });

  it('fails the whole run past activeDeadlineSeconds and stops the running phase', () => {
    const plan = lota({ activeDeadlineSeconds: 100 });
    const ok = nextState(plan, running(), observe({ calibrate: { state: 'Running' } }, {}, later(99)));
    expect(ok.status.phase).toBe('Calibrating');
    const t = nextState(plan, running(), observe({ calibrate: { state: 'Running' } }, {}, later(100)));
    expect(t.status.phase).toBe('Failed');
    expect(cond(t.status, 'Failed')?.reason).toBe('DeadlineExceeded');
    expect(t.action).toEqual({ type: 'stop', phase: 'calibrate' });
  });

  it('keeps stopping a phase that still runs after the run failed', () => {
    const [, t] = run(
      lota({ activeDeadlineSeconds: 1 }),
      [
        observe({ calibrate: { state: 'Running' } }, {}, later(5)),
        observe({ calibrate: { state: 'Running' } }, {}, later(6)),
      ],
      running(),
    );
    expect(t?.status.phase).toBe('Failed');
    expect(t?.action).toEqual({ type: 'stop', phase: 'calibrate' });
  });

  it('refuses a calibration that reports no mask, and a message of another phase', () => {
    const noMask = nextState(lota(), running(), observe({ calibrate: done('calibrate', { mask: undefined }) }));
    expect(cond(noMask.status, 'Failed')?.reason).toBe('InvalidTerminationMessage');
    const wrong = nextState(lota(), running(), observe({ calibrate: done('train') }));
    expect(wrong.status.message).toBe('phase calibrate reported a termination message of phase train');
  });

  it('refuses cross-namespace and self references', () => {
    const cross = nextState(lota({ lota: { excludeTicketsOf: ['other/task-b'] } }), undefined, observe());
    expect(cond(cross.status, 'Failed')?.reason).toBe('InvalidReference');
    expect(cross.status.message).toContain('same-namespace only');
    const self = nextState(lota({ lota: { excludeTicketsOf: ['task-a'] } }), undefined, observe());
    expect(self.status.message).toBe('LotaAdaptation task-a refers to itself');
  });

  it('turns free-form reasons into valid condition reasons', () => {
    expect(conditionReason('Pod failure policy: exit 10')).toBe('Podfailurepolicy:exit10');
    expect(conditionReason('42!')).toBe('Unknown');
    expect(conditionReason('BackoffLimitExceeded')).toBe('BackoffLimitExceeded');
  });
});

describe('dependencies', () => {
  const lotto = () => lota({ lota: { excludeTicketsOf: ['task-0'] } });

  it('waits in Pending with reason WaitingForTickets while a LoTTO predecessor is missing or running', () => {
    for (const dep of [{ state: 'Missing' as const }, { state: 'Pending' as const, phase: 'Training' }]) {
      const t = nextState(lotto(), undefined, observe({}, { 'task-0': dep }));
      expect(t.status.phase).toBe('Pending');
      expect(cond(t.status, 'Ready')?.reason).toBe('WaitingForTickets');
      expect(t.action).toEqual({ type: 'wait' });
    }
    const unobserved = nextState(lotto(), undefined, observe());
    expect(unobserved.status.message).toBe('waiting for the tickets of task-0 (not found)');
  });

  it('starts with the predecessor tickets once they exist, for calibration and training', () => {
    const deps = { 'task-0': { state: 'Succeeded' as const, ticketUri: 'pvc://m/t0/ticket.safetensors' } };
    const [t1, t2] = run(lotto(), [observe({}, deps), observe({ calibrate: done('calibrate') }, deps)]);
    expect(t1?.action).toMatchObject({
      type: 'start',
      phase: 'calibrate',
      ticketRefs: { 'task-0': 'pvc://m/t0/ticket.safetensors' },
    });
    expect(t2?.action).toMatchObject({
      type: 'start',
      phase: 'train',
      ticketRefs: { 'task-0': 'pvc://m/t0/ticket.safetensors' },
    });
  });

  it('fails when a predecessor fails or has no ticket', () => {
    const f = nextState(
      lotto(),
      undefined,
      observe({}, { 'task-0': { state: 'Failed', reason: 'InvalidSpec', message: 'bad' } }),
    );
    expect(cond(f.status, 'Failed')?.reason).toBe('DependencyFailed');
    expect(f.status.message).toBe('LotaAdaptation task-0 failed (InvalidSpec): bad');
    const n = nextState(lotto(), undefined, observe({}, { 'task-0': { state: 'Succeeded' } }));
    expect(cond(n.status, 'Failed')?.reason).toBe('DependencyHasNoTicket');
  });

  it('fails both ends of a LoTTO cycle instead of waiting forever', () => {
    const t = nextState(
      lotto(),
      undefined,
      observe({}, { 'task-0': { state: 'Cycle', path: ['task-a', 'task-0', 'task-a'] } }),
    );
    expect(cond(t.status, 'Failed')?.reason).toBe('DependencyCycle');
    expect(t.status.message).toBe('excludeTicketsOf forms a cycle: task-a → task-0 → task-a');
  });

  it('keeps the running phase when a dependency vanishes before a retry', () => {
    const t = nextState(
      lotto(),
      { phase: 'Training', mask, startTime: '2026-11-27T04:00:00Z' },
      observe({ train: failed(1, false) }, {}),
    );
    expect(t.status.phase).toBe('Training');
    expect(t.action).toEqual({ type: 'wait' });
  });

  it('waiting for tickets ends in Failed at the deadline', () => {
    const plan = lota({ lota: { excludeTicketsOf: ['task-0'] }, activeDeadlineSeconds: 60 });
    const [t1, t2] = run(plan, [observe(), observe({}, {}, later(61))]);
    expect(t1?.status.phase).toBe('Pending');
    expect(t2?.status.phase).toBe('Failed');
    expect(cond(t2?.status, 'Failed')?.reason).toBe('DeadlineExceeded');
  });
});

describe('TicketMerge', () => {
  const plan = mergePlan(
    { name: 'merged', generation: 2 },
    { tickets: [{ adaptationRef: 'a' }, { adaptationRef: 'b' }, { uri: 'pvc://x/c.safetensors' }], backoffLimit: 1 },
  );
  const ready = {
    a: { state: 'Succeeded' as const, ticketUri: 'pvc://m/a/ticket.safetensors' },
    b: { state: 'Succeeded' as const, ticketUri: 'pvc://m/b/ticket.safetensors' },
  };

  it('waits for its tickets, merges and succeeds with output and interference', () => {
    const [w, m, r, s] = run(plan, [
      observe({}, { a: ready.a, b: { state: 'Pending', phase: 'Training' } }),
      observe({}, ready),
      observe({ merge: { state: 'Running' } }, ready),
      observe({ merge: done('merge') }, ready),
    ]);
    expect(w?.status.phase).toBe('WaitingForTickets');
    expect(w?.status.message).toBe('waiting for the tickets of b (Training)');
    expect(m?.action).toMatchObject({
      type: 'start',
      phase: 'merge',
      ticketRefs: { a: 'pvc://m/a/ticket.safetensors', b: 'pvc://m/b/ticket.safetensors' },
    });
    expect(m?.status.phase).toBe('Merging');
    expect(m?.events.map((e) => e.reason)).toEqual(['Merging']);
    expect(r?.status.phase).toBe('Merging');
    expect(m?.status.tickets).toEqual([
      { name: 'a', uri: 'pvc://m/a/ticket.safetensors' },
      { name: 'b', uri: 'pvc://m/b/ticket.safetensors' },
      { name: 'ticket-2', uri: 'pvc://x/c.safetensors' },
    ]);
    expect(s?.status).toMatchObject({
      phase: 'Succeeded',
      output: { uri: 'pvc://models/m' },
      interference: { signConflicts: 1 },
    });
  });

  it('merges the model of a full/lora adaptation, which LoTTO refuses', () => {
    const deps = { a: { state: 'Succeeded' as const, modelUri: 'pvc://m/a/model' }, b: ready.b };
    const t = nextState(plan, undefined, observe({}, deps));
    expect(t.action).toMatchObject({ type: 'start', ticketRefs: { a: 'pvc://m/a/model' } });
    const lotto = nextState(lota({ lota: { excludeTicketsOf: ['a'] } }), undefined, observe({}, deps));
    expect(lotto.status.phase).toBe('Failed');
  });

  it('fails when a referenced adaptation fails, and on merge failures', () => {
    const d = nextState(plan, undefined, observe({}, { a: { state: 'Failed' }, b: ready.b }));
    expect(d.status.phase).toBe('Failed');
    expect(cond(d.status, 'Failed')?.reason).toBe('DependencyFailed');
    const p = nextState(
      plan,
      { phase: 'Merging' },
      observe({ merge: failed(1, true, 'BaseModelMismatch', 12) }, ready),
    );
    expect(cond(p.status, 'Failed')?.reason).toBe('BaseModelMismatch');
    const b = nextState(plan, { phase: 'Merging' }, observe({ merge: failed(2, false) }, ready));
    expect(cond(b.status, 'Failed')?.reason).toBe('BackoffLimitExceeded');
  });
});

describe('suspend and resume', () => {
  it('suspends the running phase, keeps finished ones, and resumes from the last finished phase', () => {
    const plan = lota({ activeDeadlineSeconds: 100 });
    const suspended = { ...plan, suspend: true };
    const [t1, t2] = run(plan, [observe(), observe({ calibrate: done('calibrate') }, {}, later(10))]);
    expect(t2?.status.phase).toBe('Training');

    const s1 = nextState(
      suspended,
      t2?.status,
      observe({ calibrate: done('calibrate'), train: { state: 'Running' } }, {}, later(20)),
    );
    expect(s1.action).toEqual({ type: 'suspend', phase: 'train' });
    expect(s1.status.phase).toBe('Suspended');
    expect(s1.status.startTime).toBeUndefined();
    expect(s1.status.mask).toEqual(mask);
    expect(s1.events.map((e) => e.reason)).toEqual(['Suspended']);
    expect(cond(s1.status, 'Reconciling')?.status).toBe('False');

    const s2 = nextState(suspended, s1.status, observe({ train: { state: 'Suspended' } }, {}, later(500)));
    expect(s2.action).toEqual({ type: 'none' });
    expect(s2.status.phase).toBe('Suspended');

    // Resumed long after the original deadline: the deadline restarts, calibration is not repeated.
    const r = nextState(plan, s2.status, observe({ train: { state: 'Suspended' } }, {}, later(1000)));
    expect(r.action).toMatchObject({ type: 'start', phase: 'train', ticketRefs: {} });
    expect(r.status.phase).toBe('Training');
    expect(r.status.startTime).toBe(formatted(later(1000)));
    expect(t1?.status.phase).toBe('Calibrating');
  });

  it('suspends before anything started, and fails a phase that failed for good while being suspended', () => {
    const plan = { ...lota(), suspend: true };
    const s = nextState(plan, undefined, observe());
    expect(s.status.phase).toBe('Suspended');
    expect(s.action).toEqual({ type: 'none' });
    const f = nextState(plan, s.status, observe({ calibrate: failed(1, true, 'InvalidSpec', 10) }));
    expect(f.status.phase).toBe('Failed');
  });
});

function formatted(d: Date) {
  return `${d.toISOString().slice(0, 19)}Z`;
}

describe('every non-terminal phase has a path to Failed with a reason', () => {
  // From each non-terminal phase, some observation fails the resource with a non-empty reason.
  const cases: [Phase, Plan, Observations][] = [
    ['Pending', lota({ lota: { excludeTicketsOf: ['d'] } }), observe({}, { d: { state: 'Failed' } })],
    [
      'WaitingForTickets',
      mergePlan({ name: 'm' }, { tickets: [{ adaptationRef: 'd' }] }),
      observe({}, { d: { state: 'Failed' } }),
    ],
    ['Calibrating', lota(), observe({ calibrate: failed(9, false) })],
    ['Training', lota(), observe({ calibrate: done('calibrate'), train: failed(1, true, 'InvalidModel', 11) })],
    [
      'Merging',
      mergePlan({ name: 'm' }, { tickets: [{ uri: 'pvc://x/t' }] }),
      observe({ merge: failed(1, true, 'InvalidTicket', 12) }),
    ],
    ['Suspended', { ...lota(), suspend: true }, observe({ calibrate: failed(1, true, 'InvalidSpec', 10) })],
  ];
  for (const [phase, plan, obs] of cases) {
    it(`from ${phase}`, () => {
      const t = nextState(plan, { phase }, obs);
      expect(t.status.phase).toBe('Failed');
      const reason = cond(t.status, 'Failed')?.reason ?? '';
      expect(reason).toMatch(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/);
      expect(t.status.message).not.toBe('');
      expect(t.events.at(-1)?.type).toBe('Warning');
    });
  }
});

describe('faults (issue #14)', () => {
  const plan = adaptationPlan({ name: 'x', generation: 1 }, { backoffLimit: 2 });
  const at = new Date('2026-11-30T05:00:00Z');
  const obs = (phases: Observations['phases']): Observations => ({ phases, dependencies: {}, now: at });

  it('sums the retry budget over Jobs: a new Job starts with the earlier attempts and failures', () => {
    const prev = nextState(plan, {}, obs({ calibrate: { state: 'Running', failures: 1, attempts: 2 } })).status;
    expect(prev).toMatchObject({ attempts: { calibrate: 2 }, failures: { calibrate: 1 } });
    const restart = nextState(plan, prev, obs({ calibrate: { state: 'NotStarted' } }));
    expect(restart.action).toEqual({
      type: 'start',
      phase: 'calibrate',
      ticketRefs: {},
      prior: { attempts: 2, failures: 1 },
      retryBudget: 1,
    });
    const spent = nextState(plan, { ...prev, failures: { calibrate: 3 } }, obs({ calibrate: { state: 'NotStarted' } }));
    expect(spent.status.phase).toBe('Failed');
    expect(spent.status.conditions?.find((c) => c.type === 'Failed')?.reason).toBe('BackoffLimitExceeded');
  });

  it('runs a finished phase again when its result cannot be read, with a Normal Event, never Failed', () => {
    const running = nextState(plan, {}, obs({ calibrate: { state: 'Running', attempts: 1, failures: 0 } })).status;
    const lost = nextState(plan, running, obs({ calibrate: { state: 'Lost', message: 'the pod is gone' } }));
    expect(lost.action).toEqual({ type: 'rerun', phase: 'calibrate' });
    expect(lost.status.phase).toBe('Calibrating');
    expect(lost.events.map((e) => [e.type, e.reason])).toEqual([['Normal', 'Recovering']]);
    expect(nextState(plan, lost.status, obs({ calibrate: { state: 'Lost', message: '-' } })).events).toEqual([]);
  });

  it('shows why a Job cannot be created as the Ready reason, with one Warning', () => {
    const refused = nextState(
      plan,
      {},
      obs({ calibrate: { state: 'Queued', reason: 'JobCreateRefused', message: 'exceeded quota: q' } }),
    );
    expect(refused.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      reason: 'JobCreateRefused',
      message: 'phase calibrate is waiting to run: exceeded quota: q',
    });
    expect(refused.events.filter((e) => e.type === 'Warning').map((e) => e.reason)).toEqual(['JobCreateRefused']);
  });

  it('survives progress no trainer should send', () => {
    const hostile = { phase: 'calibrate', step: 1, totalSteps: 2, percent: Number.NaN, loss: null } as never;
    const t = nextState(plan, {}, obs({ calibrate: { state: 'Running', progress: hostile } }));
    expect(t.status.message).toBe('phase calibrate: step 1/2 (0%)');
  });
});
