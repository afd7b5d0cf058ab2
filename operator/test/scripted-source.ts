// A scripted ListWatchSource for unit tests of the reflector: each list() answers with the next scripted result,
// each watch() opens a stream the test feeds, ends or breaks. It is not an API server: it only replays what a test
// says, so the reflector's reactions to 410s, disconnects and odd event orders can be checked one by one.

import type { KubeObject } from '../src/kube/resources.ts';
import type { ListWatchSource, WatchEvent } from '../src/watch/reflector.ts';

export class ScriptedStream<T> {
  readonly from: string;
  readonly signal: AbortSignal;
  private readonly onEvent: (e: WatchEvent<T>) => void;
  private settle?: (err?: unknown) => void;
  readonly finished: Promise<void>;

  constructor(from: string, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal) {
    this.from = from;
    this.onEvent = onEvent;
    this.signal = signal;
    this.finished = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err === undefined ? resolve() : reject(err));
    });
    signal.addEventListener('abort', () => this.settle?.(signal.reason ?? new Error('aborted')));
  }

  send(event: WatchEvent<T>): void {
    this.onEvent(event);
  }

  end(): void {
    this.settle?.();
  }

  fail(error: unknown): void {
    this.settle?.(error);
  }
}

export class ScriptedSource<T extends KubeObject> implements ListWatchSource<T> {
  readonly lists: ({ items: T[]; resourceVersion: string } | Error)[] = [];
  readonly streams: ScriptedStream<T>[] = [];
  /** Errors to throw instead of opening the next watches (e.g. an HTTP 410). */
  readonly watchErrors: Error[] = [];
  listCalls = 0;

  async list() {
    this.listCalls++;
    const next = this.lists.shift();
    if (next === undefined) throw new Error('no scripted list result');
    if (next instanceof Error) throw next;
    return structuredClone(next);
  }

  watch(resourceVersion: string, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const error = this.watchErrors.shift();
    if (error) return Promise.reject(error);
    const stream = new ScriptedStream(resourceVersion, onEvent, signal);
    this.streams.push(stream);
    return stream.finished;
  }

  get lastStream(): ScriptedStream<T> | undefined {
    return this.streams.at(-1);
  }
}

/** Waits until `predicate` holds (polling), failing with `what` after a generous bound. */
export async function until(predicate: () => boolean, what: string, boundMs = 5000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
