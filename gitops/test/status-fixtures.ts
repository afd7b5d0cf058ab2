// Status objects for every phase of both kinds, made by the operator's own pure status code (api/src/phase-machine.ts)
// from scripted observations: what the health checks see is exactly what the operator writes.
import {
  adaptationPlan,
  type MachineStatus,
  mergePlan,
  nextState,
  type Observations,
  type Plan,
} from '../../api/src/phase-machine.ts';
import type { TerminationMessage } from '../../api/src/trainer-contract.ts';

export interface Fixture {
  /** What the case shows, e.g. `Training with progress`. */
  name: string;
  /** Argo CD health the object must get. */
  argo: 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended';
  /**
   * kstatus result it must get (Flux's health checks, Helm 4's --wait). Two follow kstatus's own rules rather than
   * our wish: an object without status is Current (kstatus cannot know a controller will write one), and a
   * suspended one is InProgress (no Reconciling/Stalled verdict, so kstatus falls back to Ready=False).
   */
  kstatus: 'Current' | 'InProgress' | 'Failed';
  object: Record<string, unknown>;
}

const NOW = new Date('2026-11-27T04:00:00Z');
const later = (seconds: number) => new Date(NOW.getTime() + seconds * 1000);

const mask = { trainable: 1000, total: 10000, density: 0.1, uri: 'pvc://models/out/mask.safetensors' };
const ticket = { uri: 'pvc://models/out/ticket.safetensors', bytes: 4096, density: 0.1, sha256: 'a'.repeat(64) };

function tm(phase: 'calibrate' | 'train' | 'merge', extra: Partial<TerminationMessage> = {}): TerminationMessage {
  return { version: 1, phase, outcome: 'Succeeded', reason: 'Completed', message: `${phase} done`, ...extra };
}

function resource(kind: string, generation: number, status: MachineStatus | undefined): Record<string, unknown> {
  return {
    apiVersion: 'lota.dev/v1alpha1',
    kind,
    metadata: { name: 'demo', namespace: 'team-a', generation, uid: '0e7c2a57-4bde-4d0b-9d5e-5d1f2b0c0a11' },
    spec: {},
    ...(status && { status }),
  };
}

/** Applies observations one after another, as successive reconciles do; returns the status after the last. */
function run(plan: Plan, steps: Omit<Observations, 'now'>[]): MachineStatus {
  let status: MachineStatus | undefined;
  steps.forEach((obs, i) => {
    status = nextState(plan, status, { ...obs, now: later(i * 60) }).status;
  });
  if (!status) throw new Error('no steps');
  return status;
}

export function adaptationFixtures(): Fixture[] {
  const kind = 'LotaAdaptation';
  const lota = adaptationPlan({ name: 'demo', generation: 1 }, { method: 'lota', backoffLimit: 2 });
  const lotto = adaptationPlan(
    { name: 'demo', generation: 1 },
    { method: 'lota', lota: { excludeTicketsOf: ['task-a'] } },
  );
  const suspended = adaptationPlan({ name: 'demo', generation: 2 }, { method: 'lota', suspend: true });
  const none = { phases: {}, dependencies: {} };
  const calibrated = { calibrate: { state: 'Succeeded' as const, termination: tm('calibrate', { mask }) } };
  const training = {
    phases: {
      ...calibrated,
      train: {
        state: 'Running' as const,
        progress: { phase: 'train' as const, step: 30, totalSteps: 120, percent: 25, loss: 1.83, etaSeconds: 540 },
      },
    },
    dependencies: {},
  };
  const succeeded = {
    phases: { ...calibrated, train: { state: 'Succeeded' as const, termination: tm('train', { ticket }) } },
    dependencies: {},
  };
  const doneStatus = run(lota, [none, training, succeeded]);
  return [
    { name: 'no status yet', argo: 'Progressing', kstatus: 'Current', object: resource(kind, 1, undefined) },
    {
      name: 'Pending, waiting for the tickets of excludeTicketsOf',
      argo: 'Progressing',
      kstatus: 'InProgress',
      object: resource(
        kind,
        1,
        run(lotto, [{ phases: {}, dependencies: { 'task-a': { state: 'Pending', phase: 'Training' } } }]),
      ),
    },
    {
      name: 'Calibrating, Job queued',
      argo: 'Progressing',
      kstatus: 'InProgress',
      object: resource(
        kind,
        1,
        run(lota, [none, { phases: { calibrate: { state: 'Queued', message: 'no GPU node' } }, dependencies: {} }]),
      ),
    },
    {
      name: 'Calibrating, running',
      argo: 'Progressing',
      kstatus: 'InProgress',
      object: resource(kind, 1, run(lota, [none, { phases: { calibrate: { state: 'Running' } }, dependencies: {} }])),
    },
    {
      name: 'Training with progress',
      argo: 'Progressing',
      kstatus: 'InProgress',
      object: resource(kind, 1, run(lota, [none, training])),
    },
    {
      name: 'Training, retrying after a retryable failure',
      argo: 'Progressing',
      kstatus: 'InProgress',
      object: resource(
        kind,
        1,
        run(lota, [
          none,
          training,
          {
            phases: {
              ...calibrated,
              train: {
                state: 'Failed',
                reason: 'TransientIOError',
                message: 'EIO',
                failures: 1,
                permanent: false,
                exitCode: 20,
              },
            },
            dependencies: {},
          },
        ]),
      ),
    },
    { name: 'Succeeded', argo: 'Healthy', kstatus: 'Current', object: resource(kind, 1, doneStatus) },
    {
      name: 'Succeeded, then the spec changed and the operator has not caught up',
      argo: 'Progressing',
      kstatus: 'InProgress',
      object: resource(kind, 2, doneStatus),
    },
    {
      name: 'Failed with a permanent trainer error',
      argo: 'Degraded',
      kstatus: 'Failed',
      object: resource(
        kind,
        1,
        run(lota, [
          none,
          {
            phases: {
              calibrate: {
                state: 'Failed',
                reason: 'InvalidDataset',
                message: 'line 3 is not JSON',
                failures: 1,
                permanent: true,
                exitCode: 11,
              },
            },
            dependencies: {},
          },
        ]),
      ),
    },
    {
      name: 'Failed after backoffLimit retries',
      argo: 'Degraded',
      kstatus: 'Failed',
      object: resource(
        kind,
        1,
        run(lota, [
          none,
          training,
          {
            phases: {
              ...calibrated,
              train: {
                state: 'Failed',
                reason: 'InternalError',
                message: 'boom',
                failures: 3,
                permanent: false,
                exitCode: 1,
              },
            },
            dependencies: {},
          },
        ]),
      ),
    },
    {
      name: 'Failed because a referenced adaptation failed',
      argo: 'Degraded',
      kstatus: 'Failed',
      object: resource(
        kind,
        1,
        run(lotto, [{ phases: {}, dependencies: { 'task-a': { state: 'Failed', reason: 'InvalidDataset' } } }]),
      ),
    },
    {
      name: 'Suspended after calibration',
      argo: 'Suspended',
      kstatus: 'InProgress',
      object: resource(
        kind,
        2,
        run(suspended, [{ phases: { ...calibrated, train: { state: 'Suspended' } }, dependencies: {} }]),
      ),
    },
  ];
}

export function mergeFixtures(): Fixture[] {
  const kind = 'TicketMerge';
  const spec = { tickets: [{ adaptationRef: 'task-a' }, { adaptationRef: 'task-b' }], backoffLimit: 1 };
  const plan = mergePlan({ name: 'demo', generation: 1 }, spec);
  const suspended = mergePlan({ name: 'demo', generation: 1 }, { ...spec, suspend: true });
  const ready = {
    'task-a': { state: 'Succeeded' as const, ticketUri: 'pvc://models/a/ticket.safetensors' },
    'task-b': { state: 'Succeeded' as const, ticketUri: 'pvc://models/b/ticket.safetensors' },
  };
  const output = { uri: 'pvc://models/merged', bytes: 123456, sha256: 'b'.repeat(64) };
  const merging = { phases: { merge: { state: 'Running' as const } }, dependencies: ready };
  return [
    { name: 'no status yet', argo: 'Progressing', kstatus: 'Current', object: resource(kind, 1, undefined) },
    {
      name: 'WaitingForTickets',
      argo: 'Progressing',
      kstatus: 'InProgress',
      object: resource(
        kind,
        1,
        run(plan, [
          {
            phases: {},
            dependencies: { 'task-a': ready['task-a'], 'task-b': { state: 'Pending', phase: 'Training' } },
          },
        ]),
      ),
    },
    {
      name: 'Merging',
      argo: 'Progressing',
      kstatus: 'InProgress',
      object: resource(kind, 1, run(plan, [{ phases: {}, dependencies: ready }, merging])),
    },
    {
      name: 'Succeeded',
      argo: 'Healthy',
      kstatus: 'Current',
      object: resource(
        kind,
        1,
        run(plan, [
          { phases: {}, dependencies: ready },
          merging,
          { phases: { merge: { state: 'Succeeded', termination: tm('merge', { output }) } }, dependencies: ready },
        ]),
      ),
    },
    {
      name: 'Failed: a referenced adaptation failed',
      argo: 'Degraded',
      kstatus: 'Failed',
      object: resource(
        kind,
        1,
        run(plan, [
          { phases: {}, dependencies: { ...ready, 'task-b': { state: 'Failed', reason: 'DeadlineExceeded' } } },
        ]),
      ),
    },
    {
      name: 'Failed: the merge failed for good',
      argo: 'Degraded',
      kstatus: 'Failed',
      object: resource(
        kind,
        1,
        run(plan, [
          { phases: {}, dependencies: ready },
          {
            phases: {
              merge: {
                state: 'Failed',
                reason: 'BaseModelMismatch',
                message: 'tickets differ',
                failures: 1,
                permanent: true,
                exitCode: 12,
              },
            },
            dependencies: ready,
          },
        ]),
      ),
    },
    {
      name: 'Suspended',
      argo: 'Suspended',
      kstatus: 'InProgress',
      object: resource(kind, 1, run(suspended, [{ phases: {}, dependencies: ready }])),
    },
  ];
}
