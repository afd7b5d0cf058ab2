// Measuring helpers of the operator scale benchmark: a process's CPU seconds and peak RSS from /proc, Prometheus text
// from the API server and the operator, a watch that counts the objects of a kind in a namespace.

import { readFileSync } from 'node:fs';
import type { KubeClient } from '../../operator/src/kube/client.ts';
import type { KubeObject, ResourceType } from '../../operator/src/kube/resources.ts';
import { collectionPath } from '../../operator/src/kube/resources.ts';
import { Reflector, type WatchEvent } from '../../operator/src/watch/reflector.ts';
import type { StoreChange } from '../../operator/src/watch/store.ts';

const TICKS = 100; // USER_HZ on Linux

/** utime + stime of a process, seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Peak resident set (VmHWM), MB. */
export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Resident set now (VmRSS), MB. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (the lines of samples; comments skipped). */
export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels, value: Number(m[4]) });
  }
  return out;
}

export function sum(samples: Sample[], name: string, where: (l: Record<string, string>) => boolean = () => true) {
  return samples.filter((s) => s.name === name && where(s.labels)).reduce((a, s) => a + s.value, 0);
}

/** Requests the API server served, by `VERB resource[/subresource]`, from apiserver_request_total. */
export function apiRequests(samples: Sample[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== 'apiserver_request_total') continue;
    const r = s.labels.subresource ? `${s.labels.resource}/${s.labels.subresource}` : (s.labels.resource ?? '');
    const k = `${s.labels.verb} ${r}`;
    out.set(k, (out.get(k) ?? 0) + s.value);
  }
  return out;
}

export function diff(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

/**
 * Counts the objects of one kind in a namespace (those `match` accepts, by default all) through a list+watch;
 * `atLeast(n)` resolves when n are counted.
 */
export function counter(
  client: KubeClient,
  rt: ResourceType,
  namespace: string,
  match: (o: KubeObject) => boolean = () => true,
  onChange?: (change: StoreChange<KubeObject>) => void,
) {
  const path = collectionPath(rt, namespace);
  const waiters: { n: number; resolve: () => void }[] = [];
  const matched = new Set<string>();
  const reflector = new Reflector<KubeObject>(
    rt.plural,
    {
      list: () => client.list(path),
      watch: (resourceVersion, onEvent, signal) =>
        client.watch(
          path,
          { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 600 },
          (e) => onEvent(e as WatchEvent<KubeObject>),
          signal,
        ),
    },
    (change) => {
      onChange?.(change);
      const key = `${change.object.metadata.namespace}/${change.object.metadata.name}`;
      if (change.type !== 'deleted' && match(change.object)) matched.add(key);
      else matched.delete(key);
      for (const w of [...waiters]) {
        if (matched.size >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
  );
  reflector.start();
  return {
    reflector,
    get size() {
      return matched.size;
    },
    atLeast(n: number): Promise<void> {
      if (matched.size >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    async synced(): Promise<void> {
      while (!reflector.hasSynced()) await sleep(50);
    },
    stop: () => reflector.stop(),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds of the control plane's processes, by component name (kube-apiserver, etcd, ...). */
export function componentCpu(components: { name: string; process: { pid?: number | undefined } }[]) {
  const out = new Map<string, number>();
  for (const c of components) {
    const pid = c.process.pid;
    if (pid === undefined) continue;
    try {
      const name = c.name.replace(/-\d+$/, '');
      out.set(name, (out.get(name) ?? 0) + cpuSeconds(pid));
    } catch {
      // exited
    }
  }
  return out;
}

/** Mutating requests (POST, PUT, PATCH, DELETE, by any client) the API server has served, from its /metrics. */
export function writesServed(requests: Map<string, number>): number {
  let n = 0;
  for (const [k, v] of requests) if (/^(POST|PUT|PATCH|DELETE|CREATE|UPDATE|APPLY) /.test(k)) n += v;
  return n;
}

/**
 * What the API server spent serving, by `VERB resource[/subresource]`: the sum of request latencies (seconds, from
 * apiserver_request_duration_seconds_sum; waiting included, so a proxy for its work) and, by resource, the watch
 * events it sent (apiserver_watch_events_total).
 */
export function apiServed(samples: Sample[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name === 'apiserver_request_duration_seconds_sum' && s.labels.verb !== 'WATCH') {
      const r = s.labels.subresource ? `${s.labels.resource}/${s.labels.subresource}` : (s.labels.resource ?? '');
      const k = `${s.labels.verb} ${r} (s)`;
      out.set(k, (out.get(k) ?? 0) + s.value);
    } else if (s.name === 'apiserver_watch_events_total') {
      const k = `watch events ${s.labels.resource ?? s.labels.kind ?? ''}`;
      out.set(k, (out.get(k) ?? 0) + s.value);
    }
  }
  return out;
}
