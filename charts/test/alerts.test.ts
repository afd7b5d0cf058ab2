// The chart's PrometheusRule, checked and unit-tested by the real promtool: each alert fires on the series that
// should fire it, after its `for`, and stays quiet on a healthy operator and on other controllers' metrics.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { tool } from '../../scripts/toolchain.ts';
import { one, parseManifests, render } from './helm.ts';

const run = promisify(execFile);
const JOB = 'lota-lota-operator-metrics';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

let dir: string;
let rules: Rule[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lota-alerts-'));
  const rule = one(
    parseManifests(await render({ prometheusRule: { enabled: true, stuckPhaseMinutes: 10 } })),
    'PrometheusRule',
  ) as unknown as {
    spec: { groups: { name: string; rules: Rule[] }[] };
  };
  rules = rule.spec.groups.flatMap((g) => g.rules);
  writeFileSync(join(dir, 'rules.yaml'), stringify(rule.spec));
  // Annotations are checked (templates included) by `promtool check rules`; the unit tests compare labels only.
  const bare = { groups: rule.spec.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _, ...r }) => r) })) };
  writeFileSync(join(dir, 'bare-rules.yaml'), stringify(bare));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function promtool(args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(tool('LOTA_PROMTOOL'), args, { cwd: dir });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

type Series = [string, string];
const at = (minutes: number) => `${minutes}m`;

/** One promtool test: input series, then for each alert the label sets expected to fire at `evalAt`. */
function unitTest(name: string, series: Series[], evalAt: number, expected: Record<string, Record<string, string>[]>) {
  // The operator is up unless a case says otherwise (else LotaOperatorDown fires everywhere, as it should).
  const up: Series[] = series.some(([s]) => s.startsWith('up{')) ? [] : [[`up{job="${JOB}"}`, '1x40']];
  return {
    name,
    interval: '1m',
    input_series: [...up, ...series].map(([s, values]) => ({ series: s, values })),
    alert_rule_test: rules.map((r) => ({
      eval_time: at(evalAt),
      alertname: r.alert,
      exp_alerts: (expected[r.alert] ?? []).map((labels) => ({ exp_labels: { ...r.labels, ...labels } })),
    })),
  };
}

describe('alerting rules', () => {
  it('are valid rules with valid templates', async () => {
    expect(await promtool(['check', 'rules', 'rules.yaml'])).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(rules.map((r) => r.alert).sort()).toEqual([
      'LotaAdaptationsFailing',
      'LotaOperatorDown',
      'LotaPhaseStuck',
      'LotaReconcileErrors',
      'LotaWorkQueueBacklog',
    ]);
  });

  it('fire on what they watch, and only on this operator', async () => {
    const j = `job="${JOB}"`;
    const other = 'job="some-other-operator"';
    const tests = [
      unitTest(
        'healthy operator, busy other operator: silence',
        [
          [`up{${j}}`, '1x40'],
          [`controller_runtime_reconcile_errors_total{${j}, controller="lotaadaptation"}`, '0x40'],
          [`workqueue_depth{${j}, name="lotaadaptation"}`, '3x40'],
          [`lota_phase_age_seconds{${j}, kind="LotaAdaptation", phase="Training"}`, '0+60x40'],
          [`controller_runtime_reconcile_errors_total{${other}, controller="foo"}`, '0+100x40'],
          [`workqueue_depth{${other}, name="foo"}`, '5000x40'],
        ],
        5,
        {},
      ),
      unitTest('no operator scraped', [[`up{${j}}`, '0x40']], 20, { LotaOperatorDown: [{}] }),
      unitTest(
        'a failed phase',
        [[`lota_failures_total{${j}, kind="LotaAdaptation", reason="InvalidDataset"}`, '0 0 0 1x40']],
        10,
        { LotaAdaptationsFailing: [{ kind: 'LotaAdaptation', reason: 'InvalidDataset' }] },
      ),
      unitTest(
        'a phase older than stuckPhaseMinutes for 15 minutes',
        [
          [`lota_phase_age_seconds{${j}, kind="LotaAdaptation", phase="Pending"}`, '0+60x40'],
          [`lota_phase_age_seconds{${j}, kind="LotaAdaptation", phase="Succeeded"}`, '0+60x40'],
        ],
        30,
        { LotaPhaseStuck: [{ kind: 'LotaAdaptation', phase: 'Pending' }] },
      ),
      unitTest(
        'reconcile errors and a backlog',
        [
          [`controller_runtime_reconcile_errors_total{${j}, controller="ticketmerge"}`, '0+10x40'],
          [`workqueue_depth{${j}, name="ticketmerge"}`, '500x40'],
        ],
        30,
        { LotaReconcileErrors: [{ controller: 'ticketmerge' }], LotaWorkQueueBacklog: [{ name: 'ticketmerge' }] },
      ),
    ];
    writeFileSync(
      join(dir, 'tests.yaml'),
      stringify({ rule_files: ['bare-rules.yaml'], evaluation_interval: '1m', tests }),
    );
    expect(await promtool(['test', 'rules', 'tests.yaml'])).toContain('SUCCESS');
  });
});
