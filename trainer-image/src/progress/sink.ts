// What a running phase tells the outside world: steps with their loss, and notable lines. The CLI connects it to a
// terminal progress bar or JSON log lines, and to the /progress and /metrics endpoint.
import type { Progress, TrainerPhase } from '@lota/api';

export interface StepReport {
  step: number;
  totalSteps: number;
  /** Absent for phases without a loss (merge). */
  loss?: number;
  tokens: number;
}

export interface ProgressSink {
  /** A stage of a phase begins (e.g. calibration's dense fine-tune, then nothing else; train's sparse steps). */
  begin(stage: string, totalSteps: number): void;
  step(report: StepReport): void;
  end(): void;
  info(message: string, fields?: Record<string, unknown>): void;
}

/** Keeps the latest Progress object (what GET /progress returns) and the throughput over recent steps. */
export class ProgressTracker {
  readonly phase: TrainerPhase;
  private current: Progress;
  private startedAt = Date.now();
  private recent: { at: number; tokens: number }[] = [];

  constructor(phase: TrainerPhase) {
    this.phase = phase;
    this.current = { phase, step: 0, totalSteps: 0, percent: 0 };
  }

  begin(totalSteps: number): void {
    this.startedAt = Date.now();
    this.recent = [];
    this.current = { phase: this.phase, step: 0, totalSteps, percent: 0 };
  }

  step(report: StepReport): Progress {
    const now = Date.now();
    this.recent.push({ at: now, tokens: report.tokens });
    if (this.recent.length > 20) this.recent.shift();
    const first = this.recent[0] as { at: number };
    const seconds = (now - first.at) / 1000;
    const tokens = this.recent.slice(1).reduce((s, r) => s + r.tokens, 0);
    const elapsed = (now - this.startedAt) / 1000;
    const remaining = report.totalSteps - report.step;
    this.current = {
      phase: this.phase,
      step: report.step,
      totalSteps: report.totalSteps,
      percent: report.totalSteps === 0 ? 100 : Math.min(100, (100 * report.step) / report.totalSteps),
      ...(report.loss !== undefined && Number.isFinite(report.loss) ? { loss: report.loss } : {}),
      ...(seconds > 0 && tokens > 0 ? { tokensPerSecond: tokens / seconds } : {}),
      ...(report.step > 0 ? { etaSeconds: (elapsed / report.step) * remaining } : {}),
    };
    return this.current;
  }

  get progress(): Progress {
    return this.current;
  }
}

/** A sink that drops everything (library use and tests). */
export const silentSink: ProgressSink = { begin() {}, step() {}, end() {}, info() {} };
