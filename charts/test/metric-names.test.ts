// Every metric the chart's dashboard and alerts query is one the operator exports (its own registry, default
// process and Node.js metrics included), so a renamed metric breaks this test, not a production dashboard.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OperatorMetrics } from '../../operator/src/metrics.ts';
import { CHART_DIR, one, parseManifests, render } from './helm.ts';

/** Series Prometheus itself makes for every target. */
const PROMETHEUS_SERIES = ['up'];

const PROMQL_WORDS = new Set([
  'sum',
  'max',
  'min',
  'avg',
  'count',
  'by',
  'without',
  'rate',
  'increase',
  'irate',
  'delta',
  'histogram_quantile',
  'absent',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'offset',
  'bool',
  'le',
]);

/** Metric names in a PromQL expression: identifiers not inside {…} or […] and not functions or keywords. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/"[^"]*"/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]);
  return names
    .filter((n) => !PROMQL_WORDS.has(n) && !/^\d/.test(n) && !n.startsWith('$'))
    .map((n) => n.replace(/_(bucket|sum|count)$/, ''));
}

async function exported(): Promise<Set<string>> {
  const text = await new OperatorMetrics().registry.metrics();
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] ?? ''));
}

describe('metric names', () => {
  it('parses what PromQL queries name', () => {
    expect(metricNames('histogram_quantile(0.95, sum by (le) (rate(a_seconds_bucket{job=~"$job"}[5m])))')).toEqual([
      'a_seconds',
    ]);
    expect(metricNames('absent(up{job="x"} == 1)')).toEqual(['up']);
    expect(metricNames('max by (kind, phase) (x_seconds{job="j"}) > 600')).toEqual(['x_seconds']);
  });

  it('the dashboard queries only metrics the operator exports', async () => {
    const dashboard = JSON.parse(readFileSync(join(CHART_DIR, 'dashboards/lota-operator.json'), 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const queried = new Set(dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr))));
    const have = await exported();
    const missing = [...queried].filter((n) => !have.has(n));
    expect(missing).toEqual([]);
    expect(queried.size).toBeGreaterThan(10);
  });

  it('the alerts query only metrics the operator exports', async () => {
    const rule = one(
      parseManifests(await render({ prometheusRule: { enabled: true } })),
      'PrometheusRule',
    ) as unknown as {
      spec: { groups: { rules: { expr: string }[] }[] };
    };
    const queried = new Set(rule.spec.groups.flatMap((g) => g.rules.flatMap((r) => metricNames(r.expr))));
    const have = await exported();
    const missing = [...queried].filter((n) => !have.has(n) && !PROMETHEUS_SERIES.includes(n));
    expect(missing).toEqual([]);
  });
});
