// Records events.k8s.io/v1 Events about LotaAdaptations and TicketMerges (`kubectl events`, `kubectl describe`).
// Failing to record an Event is logged, never fatal.

import type { Logger } from 'pino';
import type { KubeClient } from './kube/client.ts';
import { collectionPath, EVENT, type KubeObject } from './kube/resources.ts';

export const REPORTING_CONTROLLER = 'lota.dev/lota-operator';

export interface EventInput {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * `<object name>.<unique suffix>`, as client-go names Events, cut so that it stays a valid name (253 characters) for
 * any valid object name; a cut never leaves a '-' or '.' before the suffix's dot.
 */
export function eventName(objectName: string, now: Date): string {
  const suffix = `${now.getTime().toString(16)}${Math.random().toString(16).slice(2, 6)}`;
  const keep = objectName.slice(0, 253 - suffix.length - 1).replace(/[-.]+$/, '');
  return `${keep}.${suffix}`;
}

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly instance: string;
  private readonly log: Logger;

  constructor(client: KubeClient, instance: string, log: Logger) {
    this.client = client;
    this.instance = instance;
    this.log = log;
  }

  async record(regarding: KubeObject & { apiVersion: string; kind: string }, event: EventInput): Promise<void> {
    const now = new Date();
    const ns = regarding.metadata.namespace ?? 'default';
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: eventName(regarding.metadata.name, now), namespace: ns },
      eventTime: microTime(now),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.instance.slice(0, 128),
      action: event.type === 'Warning' ? 'Fail' : 'Transition',
      reason: event.reason.slice(0, 128),
      note: event.message.slice(0, 1024),
      type: event.type,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: regarding.metadata.name,
        namespace: ns,
        uid: regarding.metadata.uid,
        resourceVersion: regarding.metadata.resourceVersion,
      },
    };
    try {
      await this.client.create(collectionPath(EVENT, ns), body);
    } catch (error) {
      this.log.warn(
        { err: error, reason: event.reason, object: `${ns}/${regarding.metadata.name}` },
        'could not record event',
      );
    }
  }
}
