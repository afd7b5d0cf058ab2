// `lota run`'s executor: the operator's phase machine (api/src/phase-machine.ts) driving local processes instead of
// Jobs. Each trainer phase is `lota-trainer <phase>` as a child process with the contract environment; its JSON log
// lines are its progress, its exit code and termination message are what a Job's pod would report.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isPermanentExit, type Progress, type TerminationMessage, TRAINER_ENV, type TrainerPhase } from '@lota/api';
import { type DependencyView, observeDependencies } from '@lota/api/dependencies';
import {
  adaptationPlan,
  type MachineStatus,
  mergePlan,
  nextState,
  type PhaseObservation,
  type Plan,
  type Transition,
} from '@lota/api/phase-machine';
import type { Resource } from './manifest.ts';

/** Admitted resources always have a name. */
export function nameOf(resource: Resource): string {
  return resource.metadata.name ?? '';
}

const TRAINER = fileURLToPath(new URL('../cli/lota-trainer.ts', import.meta.url));

interface Tracked {
  resource: Resource;
  plan: Plan;
  status: MachineStatus;
  observed: Partial<Record<TrainerPhase, PhaseObservation>>;
  failures: Partial<Record<TrainerPhase, number>>;
  child?: { phase: TrainerPhase; process: ChildProcess };
}

export interface ExecutorOptions {
  namespace?: string;
  pvcRoot?: string;
  /** Pass the children's non-progress log lines through. */
  verbose?: boolean;
  /** Called with each status transition (to print it). */
  onTransition: (resource: Resource, previous: MachineStatus, next: Transition) => void;
  /** Called with the children's error lines and other notable output. */
  onLine: (resource: Resource, phase: TrainerPhase, line: string) => void;
}

export class LocalExecutor {
  private readonly tracked: Tracked[];
  private readonly options: ExecutorOptions;
  private wake: (() => void) | undefined;
  private scratch: string | undefined;

  constructor(resources: Resource[], options: ExecutorOptions) {
    this.options = options;
    this.tracked = resources.map((resource) => ({
      resource,
      plan:
        resource.kind === 'LotaAdaptation'
          ? adaptationPlan({ name: nameOf(resource), generation: 1 }, resource.spec)
          : mergePlan({ name: nameOf(resource), generation: 1 }, resource.spec),
      status: {},
      observed: {},
      failures: {},
    }));
  }

  /** Runs every resource to a final state; returns their final statuses. */
  async run(): Promise<{ resource: Resource; status: MachineStatus }[]> {
    this.scratch = await mkdtemp(join(tmpdir(), 'lota-run-'));
    try {
      for (;;) {
        let acted = false;
        for (const t of this.tracked) acted = this.reconcile(t) || acted;
        const running = this.tracked.some((t) => t.child !== undefined);
        if (!running && !acted) break;
        if (running) await this.nextChange();
      }
    } finally {
      for (const t of this.tracked) t.child?.process.kill('SIGTERM');
      await rm(this.scratch, { recursive: true, force: true });
    }
    return this.tracked.map((t) => ({ resource: t.resource, status: t.status }));
  }

  private nextChange(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 2000);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** What `lota run` knows of a LotaAdaptation another resource references (the operator reads its cache). */
  private dependency(name: string): DependencyView | undefined {
    const dep = this.tracked.find((t) => t.resource.kind === 'LotaAdaptation' && nameOf(t.resource) === name);
    if (!dep) return undefined;
    const s = dep.status;
    return {
      ...(s.phase && { phase: s.phase }),
      ...(s.ticket && { ticketUri: s.ticket.uri }),
      ...(s.output && { modelUri: s.output.uri }),
      ...(s.phase === 'Failed' && { failedReason: s.conditions?.find((c) => c.type === 'Failed')?.reason ?? 'Failed' }),
      ...(s.message && { message: s.message }),
      waitsFor: dep.plan.dependencies,
    };
  }

  /** One pass of the machine for a resource; returns whether anything changed (a start, a stop, a new status). */
  private reconcile(t: Tracked): boolean {
    const dependencies = observeDependencies(t.plan, (d) => this.dependency(d));
    const transition = nextState(t.plan, t.status, { phases: t.observed, dependencies, now: new Date() });
    const previous = t.status;
    const changed =
      JSON.stringify(previous) !== JSON.stringify({ ...transition.status, conditions: previous.conditions });
    if (transition.status.phase !== previous.phase || transition.status.message !== previous.message) {
      this.options.onTransition(t.resource, previous, transition);
    }
    t.status = transition.status;
    const action = transition.action;
    switch (action.type) {
      case 'start':
        this.start(t, action.phase, action.ticketRefs);
        return true;
      case 'stop':
      case 'suspend':
        t.child?.process.kill('SIGTERM');
        return true;
      default:
        return changed && transition.status.phase !== previous.phase;
    }
  }

  private start(t: Tracked, phase: TrainerPhase, ticketRefs: Record<string, string>): void {
    const name = nameOf(t.resource);
    const terminationLog = join(this.scratch as string, `${t.resource.kind}-${name}-${phase}.json`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      [TRAINER_ENV.spec]: JSON.stringify(t.resource.spec),
      [TRAINER_ENV.kind]: t.resource.kind,
      [TRAINER_ENV.name]: name,
      [TRAINER_ENV.namespace]: this.options.namespace ?? 'default',
      [TRAINER_ENV.phase]: phase,
      [TRAINER_ENV.ticketRefs]: JSON.stringify(ticketRefs),
      [TRAINER_ENV.terminationLog]: terminationLog,
      [TRAINER_ENV.progressPort]: '0',
      [TRAINER_ENV.scratchDir]: this.scratch as string,
      ...(this.options.pvcRoot ? { [TRAINER_ENV.pvcRoot]: this.options.pvcRoot } : {}),
    };
    const child = spawn(process.execPath, [TRAINER, phase], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    t.child = { phase, process: child };
    t.observed[phase] = { state: 'Running', failures: t.failures[phase] ?? 0 };
    const lines = createInterface({ input: child.stderr as NodeJS.ReadableStream });
    lines.on('line', (line) => this.childLine(t, phase, line));
    child.on('close', (code, signal) => {
      void this.finished(t, phase, terminationLog, code, signal);
    });
  }

  private childLine(t: Tracked, phase: TrainerPhase, line: string): void {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      if (this.options.verbose) this.options.onLine(t.resource, phase, line);
      return;
    }
    if (typeof record.step === 'number' && typeof record.totalSteps === 'number') {
      const progress: Progress = {
        phase,
        step: record.step,
        totalSteps: record.totalSteps,
        percent: typeof record.percent === 'number' ? record.percent : 0,
        ...(typeof record.loss === 'number' ? { loss: record.loss } : {}),
        ...(typeof record.tokensPerSecond === 'number' ? { tokensPerSecond: record.tokensPerSecond } : {}),
        ...(typeof record.etaSeconds === 'number' ? { etaSeconds: record.etaSeconds } : {}),
      };
      t.observed[phase] = { state: 'Running', progress, failures: t.failures[phase] ?? 0 };
      this.notify();
    } else if (this.options.verbose || (typeof record.level === 'number' && record.level >= 40) || record.stack) {
      this.options.onLine(t.resource, phase, String(record.stack ?? record.msg ?? line));
    } else if (typeof record.msg === 'string' && /mask extracted|sparse training/.test(record.msg)) {
      const { level: _l, time: _t, phase: _p, msg, ...fields } = record;
      this.options.onLine(t.resource, phase, `${msg} ${JSON.stringify(fields)}`);
    }
  }

  private async finished(
    t: Tracked,
    phase: TrainerPhase,
    log: string,
    code: number | null,
    signal: NodeJS.Signals | null,
  ) {
    const text = await readFile(log, 'utf8').catch(() => undefined);
    let termination: TerminationMessage | undefined;
    try {
      termination = text === undefined ? undefined : (JSON.parse(text) as TerminationMessage);
    } catch {
      termination = undefined;
    }
    if (code === 0 && termination?.outcome === 'Succeeded') {
      t.observed[phase] = { state: 'Succeeded', termination };
    } else {
      const failures = (t.failures[phase] ?? 0) + 1;
      t.failures[phase] = failures;
      const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 143);
      t.observed[phase] = {
        state: 'Failed',
        reason: termination?.reason ?? 'Error',
        message: termination?.message ?? `lota-trainer ${phase} exited with ${signal ?? `code ${code}`}`,
        failures,
        permanent: isPermanentExit(exitCode),
        exitCode,
      };
    }
    // Only now, with the outcome observed: cleared earlier, the run loop could wake during the read above, see no
    // child and no action (the phase still "Running") and stop with the resource unfinished.
    t.child = undefined;
    this.notify();
  }
}
