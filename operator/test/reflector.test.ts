import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../src/kube/client.ts';
import type { KubeObject } from '../src/kube/resources.ts';
import { Reflector } from '../src/watch/reflector.ts';
import type { StoreChange } from '../src/watch/store.ts';
import { ScriptedSource, until } from './scripted-source.ts';

const obj = (name: string, rv: string, extra: Record<string, string> = {}): KubeObject => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv, labels: extra },
});

let reflectors: Reflector<KubeObject>[] = [];
afterEach(async () => {
  await Promise.all(reflectors.map((r) => r.stop()));
  reflectors = [];
});

function setup(opts: { watchdogMs?: number } = {}) {
  const source = new ScriptedSource<KubeObject>();
  const changes: string[] = [];
  const errors: unknown[] = [];
  const restarts: string[] = [];
  const reflector = new Reflector(
    'things',
    source,
    (c: StoreChange<KubeObject>) =>
      changes.push(`${c.type} ${c.object.metadata.name}@${c.object.metadata.resourceVersion}`),
    {
      initialBackoffMs: 1,
      maxBackoffMs: 5,
      watchdogMs: opts.watchdogMs ?? 60_000,
      onError: (e) => errors.push(e),
      onRestart: (cause) => restarts.push(cause),
    },
  );
  reflectors.push(reflector);
  return { source, changes, errors, restarts, reflector };
}

describe('Reflector', () => {
  it('lists, then watches from the list version and applies events in order', async () => {
    const { source, changes, reflector } = setup();
    source.lists.push({ items: [obj('a', '5'), obj('b', '6')], resourceVersion: '10' });
    reflector.start();
    await until(() => source.streams.length === 1, 'first watch');
    expect(reflector.hasSynced()).toBe(true);
    expect(source.lastStream?.from).toBe('10');
    source.lastStream?.send({ type: 'ADDED', object: obj('c', '11') });
    source.lastStream?.send({ type: 'MODIFIED', object: obj('a', '12') });
    source.lastStream?.send({ type: 'DELETED', object: obj('b', '13') });
    expect(changes).toEqual(['added a@5', 'added b@6', 'added c@11', 'updated a@12', 'deleted b@6']);
    expect(
      reflector.store
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['a', 'c']);
  });

  it('resumes after a server close from the newest version, bookmarks included, without relisting', async () => {
    const { source, reflector } = setup();
    source.lists.push({ items: [], resourceVersion: '10' });
    reflector.start();
    await until(() => source.streams.length === 1, 'first watch');
    source.lastStream?.send({ type: 'ADDED', object: obj('a', '11') });
    source.lastStream?.send({ type: 'BOOKMARK', object: obj('', '40') });
    source.lastStream?.end();
    await until(() => source.streams.length === 2, 'second watch');
    expect(source.lastStream?.from).toBe('40');
    expect(source.listCalls).toBe(1);
    expect(reflector.store.size).toBe(1);
  });

  it('relists on a 410 Gone ERROR event and reports what vanished meanwhile', async () => {
    const { source, changes, restarts, reflector } = setup();
    source.lists.push({ items: [obj('a', '5'), obj('b', '6')], resourceVersion: '10' });
    source.lists.push({ items: [obj('a', '30'), obj('d', '31')], resourceVersion: '32' });
    reflector.start();
    await until(() => source.streams.length === 1, 'first watch');
    source.lastStream?.send({
      type: 'ERROR',
      object: { code: 410, reason: 'Expired', message: 'too old resource version' },
    });
    await until(() => source.streams.length === 2, 'watch after relist');
    expect(source.lastStream?.from).toBe('32');
    expect(reflector.stats.relistsOnGone).toBe(1);
    expect(restarts).toEqual(['gone']);
    expect(changes.slice(2)).toEqual(['updated a@30', 'added d@31', 'deleted b@6']);
  });

  it('relists when the watch request itself answers 410', async () => {
    const { source, reflector } = setup();
    source.lists.push({ items: [], resourceVersion: '10' }, { items: [obj('a', '50')], resourceVersion: '51' });
    source.watchErrors.push(new ApiError(410, 'Expired', 'too old'));
    reflector.start();
    await until(() => source.streams.length === 1, 'watch after relist');
    expect(source.listCalls).toBe(2);
    expect(source.lastStream?.from).toBe('51');
  });

  it('rewatches from the last version after a disconnect, and retries a failing list with backoff', async () => {
    const { source, errors, reflector } = setup();
    source.lists.push(new Error('connection refused'), { items: [], resourceVersion: '10' });
    reflector.start();
    await until(() => source.streams.length === 1, 'first watch');
    expect(source.listCalls).toBe(2);
    expect(reflector.hasSynced()).toBe(true);
    source.lastStream?.send({ type: 'ADDED', object: obj('a', '11') });
    source.lastStream?.fail(new Error('socket hang up'));
    await until(() => source.streams.length === 2, 'watch after disconnect');
    expect(source.lastStream?.from).toBe('11');
    expect(source.listCalls).toBe(2);
    expect(errors.map(String)).toEqual(['Error: connection refused', 'Error: socket hang up']);
  });

  it('ignores duplicate and out-of-order events, and late events for deleted objects', async () => {
    const { source, changes, reflector } = setup();
    source.lists.push({ items: [obj('a', '20')], resourceVersion: '20' });
    reflector.start();
    await until(() => source.streams.length === 1, 'first watch');
    const s = source.lastStream;
    s?.send({ type: 'MODIFIED', object: obj('a', '20') }); // duplicate of the listed version
    s?.send({ type: 'MODIFIED', object: obj('a', '18') }); // older than the cache
    s?.send({ type: 'MODIFIED', object: obj('a', '21', { v: 'new' }) });
    s?.send({ type: 'DELETED', object: obj('a', '19') }); // stale delete
    s?.send({ type: 'DELETED', object: obj('a', '25') });
    s?.send({ type: 'MODIFIED', object: obj('a', '24') }); // late update of the deleted object
    s?.send({ type: 'DELETED', object: obj('zz', '26') }); // never seen
    s?.send({ type: 'ADDED', object: obj('a', '27') }); // recreated
    expect(changes).toEqual(['added a@20', 'updated a@21', 'deleted a@21', 'added a@27']);
  });

  it('reports other ERROR events and watches again from the last version without relisting', async () => {
    const { source, errors, reflector } = setup();
    source.lists.push({ items: [], resourceVersion: '10' });
    reflector.start();
    await until(() => source.streams.length === 1, 'first watch');
    source.lastStream?.send({ type: 'ADDED', object: obj('a', '11') });
    source.lastStream?.send({
      type: 'ERROR',
      object: { code: 500, reason: 'InternalError', message: 'etcdserver: leader changed' },
    });
    await until(() => source.streams.length === 2, 'watch after the error');
    expect(source.lastStream?.from).toBe('11');
    expect(source.listCalls).toBe(1);
    expect(errors.map(String)).toEqual(['Error: watch things: etcdserver: leader changed']);
  });

  it('drops a silent watch (watchdog) and watches again from the last version', async () => {
    const { source, reflector } = setup({ watchdogMs: 20 });
    source.lists.push({ items: [], resourceVersion: '10' });
    reflector.start();
    await until(() => source.streams.length === 1, 'first watch');
    const first = source.lastStream;
    await until(() => source.streams.length >= 2, 'watch after silence');
    expect(first?.signal.aborted).toBe(true);
    expect(reflector.stats.watchdogRestarts).toBeGreaterThanOrEqual(1);
    expect(source.lastStream?.from).toBe('10');
    expect(source.listCalls).toBe(1);
  });

  it('stops: aborts the open watch and opens no other', async () => {
    const { source, reflector } = setup();
    source.lists.push({ items: [], resourceVersion: '10' });
    reflector.start();
    await until(() => source.streams.length === 1, 'first watch');
    await reflector.stop();
    expect(source.lastStream?.signal.aborted).toBe(true);
    expect(source.streams.length).toBe(1);
  });
});
