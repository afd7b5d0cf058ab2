#!/usr/bin/env node
// lota-trainer: the trainer image's entry point. `calibrate`, `train` and `merge` are the contract phases the operator
// (and `lota run`) start with the LOTA_* environment; `apply`, `inspect` and `eval` are for people.
import { EXIT, TRAINER_PHASES } from '@lota/api';
import { Command, Option } from 'commander';
import { selectBackend } from '../backend/select.ts';
import { loadDataset } from '../data/dataset.ts';
import { readJsonl } from '../data/jsonl.ts';
import { OUTPUT_DTYPE_NAMES, type OutputDtype } from '../io/dtype.ts';
import { applyTickets, applyTicketsInMemory } from '../lota/apply.ts';
import { countSetAll } from '../lota/mask.ts';
import { readMaskFile } from '../lota/mask-file.ts';
import { inspectTicket, readTicket } from '../lota/ticket.ts';
import { loadPretrained } from '../model/pretrained.ts';
import { baseFingerprint } from '../phases/context.ts';
import { scoreTask } from '../phases/evaluation.ts';
import { defaultSink } from '../progress/output.ts';
import { serveProgress, TrainerMetrics } from '../progress/server.ts';
import { ProgressTracker } from '../progress/sink.ts';
import { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { classify } from './errors.ts';
import { readTrainerEnv, runPhase } from './phase.ts';

async function phaseCommand(phase: string): Promise<number> {
  let env: ReturnType<typeof readTrainerEnv>;
  try {
    env = readTrainerEnv(phase);
  } catch (error) {
    process.stderr.write(`lota-trainer: ${(error as Error).message}\n`);
    return classify(error).exitCode;
  }
  const tracker = new ProgressTracker(env.phase);
  const metrics = new TrainerMetrics();
  const sink = defaultSink(tracker, metrics);
  const server = await serveProgress(tracker, metrics, env.progressPort, env.podIp).catch((error: Error) => {
    sink.info(`progress endpoint not started: ${error.message}`);
    return undefined;
  });
  try {
    const run = await runPhase(env, sink);
    process.stdout.write(`${JSON.stringify(run.termination)}\n`);
    return run.exitCode;
  } finally {
    server?.close();
  }
}

/** For the human commands: report the error plainly and map it to the contract's exit code. */
async function human(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    process.stderr.write(`lota-trainer: ${(error as Error).message}\n`);
    process.exitCode = classify(error).exitCode;
  }
}

// `lota-trainer inspect t | head` closes stdout early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

const program = new Command('lota-trainer')
  .description('LoTA trainer: calibrate / train / merge phases (operator contract) and ticket tools')
  .showHelpAfterError();

for (const phase of TRAINER_PHASES) {
  program
    .command(phase)
    .description(`run the ${phase} phase from the LOTA_* environment (docs/trainer-contract.md)`)
    .action(async () => {
      process.exitCode = await phaseCommand(phase);
    });
}

program
  .command('apply')
  .description('base model + tickets → model directory (refuses tickets of another base)')
  .requiredOption('--base <dir>', 'base model directory')
  .requiredOption('--ticket <file...>', 'ticket file(s), applied in order')
  .requiredOption('--out <dir>', 'output model directory')
  .addOption(
    new Option('--dtype <dtype>', 'dtype of the written weights (default: the base model’s)').choices(
      OUTPUT_DTYPE_NAMES,
    ),
  )
  .action((o: { base: string; ticket: string[]; out: string; dtype?: OutputDtype }) =>
    human(async () => {
      const r = await applyTickets(o.base, o.ticket, o.out, o.dtype ? { dtype: o.dtype } : {});
      process.stdout.write(
        `wrote ${o.out}: ${r.tensors} tensors, ${r.changed} entries changed by ${o.ticket.length} ticket(s)\n`,
      );
    }),
  );

program
  .command('inspect')
  .description('statistics of a ticket (or a mask file): per tensor and in total')
  .argument('<file>', 'ticket.safetensors or mask.safetensors')
  .option('--json', 'print JSON')
  .action((file: string, o: { json?: boolean }) =>
    human(async () => {
      const ticket = await readTicket(file).catch(async (error) => {
        const mask = await readMaskFile(file).catch(() => undefined);
        if (!mask) throw error;
        return mask;
      });
      if ('masks' in ticket) {
        const counts = countSetAll(ticket.masks);
        const out = { kind: 'mask', ...ticket.info, ...counts, density: counts.trainable / Math.max(1, counts.total) };
        process.stdout.write(o.json ? `${JSON.stringify(out, null, 2)}\n` : `${describe(out)}\n`);
        return;
      }
      const stats = inspectTicket(ticket);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
        return;
      }
      const i = stats.info;
      process.stdout.write(
        `ticket ${file}\n  task ${i.task}  method ${i.method}  source ${i.source}\n  base ${i.baseFingerprint.slice(0, 16)}…  values ${i.valuesDtype}  sparsity ${i.sparsity}\n`,
      );
      for (const t of stats.tensors) {
        process.stdout.write(
          `  ${t.name.padEnd(48)} ${String(t.trainable).padStart(9)} / ${String(t.total).padEnd(9)} density ${t.density.toFixed(4)}  |δ|max ${t.maxAbs.toExponential(2)}  ‖δ‖ ${t.l2.toExponential(3)}\n`,
        );
      }
      process.stdout.write(
        `  total ${stats.trainable} / ${stats.total} entries, density ${stats.density.toFixed(4)}, ‖δ‖ ${stats.l2.toExponential(3)}\n`,
      );
    }),
  );

program
  .command('eval')
  .description('loss, perplexity and exact match of a model (optionally + tickets) on a JSONL file')
  .requiredOption('--model <dir>', 'model directory')
  .requiredOption('--data <file>', 'JSONL data (messages, prompt/completion or text)')
  .option('--ticket <file...>', 'tickets to apply to the model first')
  .option('--max-seq-length <n>', 'tokens per example', (v) => Number(v), 512)
  .option('--batch-size <n>', 'examples per batch', (v) => Number(v), 8)
  .action((o: { model: string; data: string; ticket?: string[]; maxSeqLength: number; batchSize: number }) =>
    human(async () => {
      await selectBackend(undefined, () => {});
      const model = await loadPretrained(o.model);
      if (o.ticket?.length) {
        const tickets = [];
        for (const path of o.ticket) tickets.push({ what: `ticket ${path}`, ticket: await readTicket(path) });
        await applyTicketsInMemory(model.params, tickets, await baseFingerprint(o.model));
      }
      const tokenizer = await TextTokenizer.load(o.model);
      const evalSet = await loadDataset(o.data, tokenizer, { maxSeqLength: o.maxSeqLength });
      const { records } = await readJsonl(o.data);
      const scores = scoreTask(
        model.params,
        model.config,
        {
          tokenizer,
          train: evalSet,
          eval: evalSet,
          evalRecords: records,
          padId: tokenizer.padId ?? tokenizer.eosId ?? 0,
        },
        o.batchSize,
        o.maxSeqLength,
      );
      process.stdout.write(`${JSON.stringify(scores)}\n`);
    }),
  );

function describe(o: Record<string, unknown>): string {
  return Object.entries(o)
    .filter(([k]) => k !== 'shapes')
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join('\n');
}

await program.parseAsync(process.argv).catch((error: Error) => {
  process.stderr.write(`lota-trainer: ${error.message}\n`);
  process.exitCode = EXIT.internal;
});
