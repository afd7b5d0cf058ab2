// Where progress goes: a progress bar on a terminal, JSON lines (pino) otherwise (pods, CI, `lota run` children).
// Both also update the tracker behind GET /progress and the Prometheus gauges behind GET /metrics.
import { SingleBar } from 'cli-progress';
import pino from 'pino';
import type { TrainerMetrics } from './server.ts';
import type { ProgressSink, ProgressTracker, StepReport } from './sink.ts';

export function jsonLinesSink(
  tracker: ProgressTracker,
  metrics?: TrainerMetrics,
  stream = process.stderr,
): ProgressSink {
  const log = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, stream);
  let stage = '';
  return {
    begin(name, totalSteps) {
      stage = name;
      tracker.begin(totalSteps);
      log.info({ phase: tracker.phase, stage, totalSteps }, `${stage}: ${totalSteps} steps`);
    },
    step(report: StepReport) {
      const p = tracker.step(report);
      metrics?.observe(p);
      log.info(
        { stage, ...p },
        `${stage} step ${p.step}/${p.totalSteps}${p.loss === undefined ? '' : ` loss ${p.loss.toFixed(4)}`}`,
      );
    },
    end() {},
    info(message, fields = {}) {
      log.info({ phase: tracker.phase, ...fields }, message);
    },
  };
}

function terminalSink(tracker: ProgressTracker, metrics?: TrainerMetrics, stream = process.stderr): ProgressSink {
  let bar: SingleBar | undefined;
  return {
    begin(stage, totalSteps) {
      tracker.begin(totalSteps);
      bar = new SingleBar({
        stream,
        format: `${stage.padEnd(9)} [{bar}] {value}/{total} steps | loss {loss} | {tps} tok/s | eta {eta_formatted}`,
        hideCursor: true,
      });
      bar.start(totalSteps, 0, { loss: '-', tps: '-' });
    },
    step(report) {
      const p = tracker.step(report);
      metrics?.observe(p);
      bar?.update(report.step, { loss: p.loss?.toFixed(4) ?? '-', tps: p.tokensPerSecond?.toFixed(0) ?? '-' });
    },
    end() {
      bar?.stop();
      bar = undefined;
    },
    info(message, fields = {}) {
      const extra = Object.entries(fields)
        .map(([k, v]) => `${k}=${typeof v === 'number' ? Number(v.toPrecision(6)) : String(v)}`)
        .join(' ');
      stream.write(`${message}${extra ? ` (${extra})` : ''}\n`);
    },
  };
}

/** A progress bar when stderr is a terminal, JSON lines otherwise. */
export function defaultSink(tracker: ProgressTracker, metrics?: TrainerMetrics): ProgressSink {
  return process.stderr.isTTY ? terminalSink(tracker, metrics) : jsonLinesSink(tracker, metrics);
}
